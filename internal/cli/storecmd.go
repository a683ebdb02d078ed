package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
	"kickstand/internal/store/backend"
	"kickstand/internal/store/postgres"
	"kickstand/internal/store/sqlite"
)

// storeCmd works on stores as a whole: moving an installation to the
// PostgreSQL store that several servers share.
func (e *env) storeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Work on the inventory's database as a whole"}
	var from, to string
	migrate := &cobra.Command{
		Use:   "migrate --to postgres://USER:PASSWORD@HOST/DB [--from sqlite:DIR]",
		Short: "Copy the whole inventory (distros, profiles, machines and their timelines, API tokens, leases) into an empty PostgreSQL database",
		Long: `kickstand store migrate copies everything in a SQLite store (by default the data
directory's) into an empty PostgreSQL database, in one transaction. Stop kickstand serve
first, so that nothing changes while it copies; then start each server with --store set
to the same URL. The SQLite store is left as it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := backend.Parse(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if src.Kind != backend.SQLite {
				return fmt.Errorf("--from %s: want sqlite or sqlite:DIR, the store to copy", src)
			}
			dst, err := backend.Parse(to)
			if err != nil || dst.Kind != backend.Postgres {
				return fmt.Errorf("--to %q: want the postgres://USER:PASSWORD@HOST/DB to copy into", to)
			}
			dir := e.dataDir
			if src.Dir != "" {
				dir = src.Dir
			}
			// Opening a missing store would create an empty one and copy nothing.
			if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
				return fmt.Errorf("--from: no kickstand store in %s (%w): name the data directory, as in --from sqlite:/var/lib/kickstand", dir, err)
			}
			ctx := cmd.Context()
			in, err := sqlite.Open(ctx, dir)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := postgres.Open(ctx, dst.URL)
			if err != nil {
				return err
			}
			defer out.Close()
			n, err := out.Import(ctx, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "copied %d distros, %d profiles, %d machines with %d events and %d install logs, %d API tokens and %d leases from %s to %s\n",
				n.Distros, n.Profiles, n.Machines, n.Events, n.InstallLogs, n.APITokens, n.Leases, filepath.Join(dir, sqlite.FileName), dst)
			// Snippets are files, each server's own: the database has none.
			if snippets, _ := os.ReadDir(inventory.SnippetsDir(dir)); len(snippets) > 0 {
				fmt.Fprintf(e.stderr, "kickstart snippets are not in the database: copy %s to the data directory of every server\n",
					inventory.SnippetsDir(dir))
			}
			return nil
		},
	}
	migrate.Flags().StringVar(&from, "from", "sqlite", "the SQLite store to copy: sqlite (--data-dir's) or sqlite:DIR")
	migrate.Flags().StringVar(&to, "to", "", "the empty PostgreSQL database to copy into")
	cmd.AddCommand(migrate)
	return cmd
}
