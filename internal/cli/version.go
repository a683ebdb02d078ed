package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func (e *env) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kickstand's version, the commit it was built from and the Go that built it",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				info = &debug.BuildInfo{GoVersion: runtime.Version()}
			}
			writeVersion(e.stdout, info)
			return nil
		},
	}
}

// writeVersion prints what info says about the build: the module version,
// the VCS revision, its time and whether the tree had changes, and Go.
func writeVersion(w io.Writer, info *debug.BuildInfo) {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	fmt.Fprintf(w, "version:  %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(w, "revision: %s\n", rev)
		fmt.Fprintf(w, "time:     %s\n", settings["vcs.time"])
		fmt.Fprintf(w, "modified: %s\n", settings["vcs.modified"])
	} else {
		// GOFLAGS=-buildvcs=false, or a build outside a git checkout.
		fmt.Fprintln(w, "revision: unknown (build with go build -buildvcs=true in a git checkout, as make build does)")
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	if goos == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	fmt.Fprintf(w, "go:       %s %s/%s\n", info.GoVersion, goos, goarch)
}
