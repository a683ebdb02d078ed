package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
)

// machineLogsCmd is kickstand machine logs: what a machine's installs sent home.
func (e *env) machineLogsCmd() *cobra.Command {
	var q inventory.LogQuery
	var output string
	cmd := &cobra.Command{
		Use:   "logs MAC [--name anaconda.log] [--install N | --all]",
		Short: "Print the logs the machine's installer sent home (anaconda's logs and its kickstart)",
		Long: `Print the logs the machine's installer sent home: anaconda.log, program.log,
storage.log, packaging.log, dnf.librepo.log and the kickstart as anaconda read
it (ks.cfg), the newest 256 KiB of each. An install sends them when it fails;
with the profile or machine variable send_logs=always also when it succeeds
(send_logs=never: not at all). The newest install's logs are printed, each
under a header; with --name alone, only that file, as it is.`,
		Args: cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			return e.machineLogs(ctx, svc, args[0], q, output)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&q.Name, "name", "", "only this file (anaconda.log, program.log, storage.log, packaging.log, dnf.librepo.log, syslog, ks.cfg)")
	f.IntVar(&q.Install, "install", 1, "which install: 1 the newest that sent logs, 2 the one before...")
	f.BoolVar(&q.All, "all", false, "the logs of every install kept")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.MarkFlagsMutuallyExclusive("install", "all")
	return cmd
}

func (e *env) machineLogs(ctx context.Context, svc service, mac string, q inventory.LogQuery, output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("-o %q: want text or json", output)
	}
	logs, err := svc.InstallLogs(ctx, mac, q)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(e, logs)
	}
	if len(logs) == 0 {
		what := "install logs"
		if q.Name != "" {
			what = q.Name
		}
		if !q.All && q.Install > 1 {
			what += fmt.Sprintf(" of install %d", q.Install)
		}
		return fmt.Errorf("machine %s has no %s: an install sends its logs when it fails (and with the variable send_logs=always, when it succeeds)", mac, what)
	}
	if q.Name != "" && !q.All {
		_, err := fmt.Fprint(e.stdout, logs[0].Body)
		return err
	}
	for i, l := range logs {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "==> %s (install %d, %s, %d bytes) <==\n", l.Name, l.Install, l.Time.Local().Format("2006-01-02 15:04:05"), l.Size)
		fmt.Fprint(e.stdout, l.Body)
		if !strings.HasSuffix(l.Body, "\n") && l.Body != "" {
			fmt.Fprintln(e.stdout)
		}
	}
	return nil
}
