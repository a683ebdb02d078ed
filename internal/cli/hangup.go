package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"

	"kickstand/internal/config"
)

// onHangup answers SIGHUP, which would otherwise end serve. kickstand
// reads its settings only at start: the sockets, the DHCP mode and the boot
// tree are built from them once, and changing them under running transfers
// and leases is not safe. So SIGHUP reads the settings again (reread) and
// logs which differ from the running ones, for a restart to apply.
// Machines, profiles and distros need no reload: they are in the store,
// read on every request. stop ends the answering.
func onHangup(reread func() (config.Config, error), running config.Config, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			now, err := reread()
			if err != nil {
				log.Error("SIGHUP: the settings do not load; kickstand goes on with the running ones", "err", err)
				continue
			}
			if changed := changedSettings(running, now); len(changed) > 0 {
				log.Warn("SIGHUP: settings are read only at start; restart kickstand to apply the changed ones (systemctl restart kickstand)",
					"changed", strings.Join(changed, ","))
			} else {
				log.Info("SIGHUP: no setting changed (machines, profiles and distros are read live from the store and need no reload)")
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// changedSettings are the names (as in the config file) of the settings
// that differ between a and b.
func changedSettings(a, b config.Config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var names []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			names = append(names, va.Type().Field(i).Tag.Get("yaml"))
		}
	}
	return names
}
