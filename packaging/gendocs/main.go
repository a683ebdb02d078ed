// Command gendocs writes what the kickstand packages ship beside the binary
// and derive from its commands: a manual page per command (kickstand.1,
// kickstand-serve.1, …) and the bash, zsh and fish completions. Run by
// scripts/package.sh; SOURCE_DATE_EPOCH dates the pages.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"kickstand/internal/cli"
)

func main() {
	manDir := flag.String("man", "", "directory for the manual pages (section 1)")
	completionDir := flag.String("completions", "", "directory for kickstand.bash, _kickstand (zsh) and kickstand.fish")
	version := flag.String("version", "", "the packages' version, printed in the pages' footer")
	flag.Parse()
	if *manDir == "" || *completionDir == "" {
		fmt.Fprintln(os.Stderr, "usage: gendocs -man DIR -completions DIR [-version V]")
		os.Exit(2)
	}
	if err := generate(*manDir, *completionDir, *version); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func generate(manDir, completionDir, version string) error {
	// The pages show flag defaults; those from the environment would show
	// the packager's.
	for _, v := range []string{"KICKSTAND_DATA_DIR", "KICKSTAND_SERVER", "KICKSTAND_TOKEN"} {
		os.Unsetenv(v)
	}
	root := cli.Env{}.Command(io.Discard, io.Discard)
	root.DisableAutoGenTag = true // the date and source are in the header
	for _, dir := range []string{manDir, completionDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	header := &doc.GenManHeader{Section: "1", Source: "kickstand " + version, Manual: "kickstand manual"}
	if err := doc.GenManTree(root, header, manDir); err != nil {
		return fmt.Errorf("manual pages: %w", err)
	}
	completions := map[string]func(root *cobra.Command, w io.Writer) error{
		"kickstand.bash": func(root *cobra.Command, w io.Writer) error { return root.GenBashCompletionV2(w, true) },
		"_kickstand":     func(root *cobra.Command, w io.Writer) error { return root.GenZshCompletion(w) },
		"kickstand.fish": func(root *cobra.Command, w io.Writer) error { return root.GenFishCompletion(w, true) },
	}
	for name, gen := range completions {
		if err := writeFile(filepath.Join(completionDir, name), func(w io.Writer) error { return gen(root, w) }); err != nil {
			return fmt.Errorf("%s completion: %w", name, err)
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
