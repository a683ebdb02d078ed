// Command kickstand is a complete network-install server in one binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"kickstand/internal/app"
	"kickstand/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Env{Serve: app.Run}.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
