package app

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/inventory"
	"kickstand/internal/metrics"
	"kickstand/internal/store"
	"kickstand/internal/tftp"
)

// metricsHandler serves the metrics, or is nil with --metrics=false.
func (a *App) metricsHandler() http.Handler {
	if !a.cfg.Metrics || a.metrics == nil {
		return nil
	}
	return a.metrics.Handler()
}

// tftpOutcome is what became of a TFTP transfer, for the metrics.
func tftpOutcome(t tftp.Transfer) string {
	switch {
	case t.SizeProbe():
		return metrics.OutcomeProbe
	case errors.Is(t.Err, fs.ErrNotExist):
		return metrics.OutcomeNotFound
	case t.Err != nil:
		return metrics.OutcomeError
	}
	return metrics.OutcomeOK
}

// httpOutcome is what became of an HTTP file request, for the metrics.
func httpOutcome(status int) string {
	switch {
	case status == http.StatusNotFound:
		return metrics.OutcomeNotFound
	case status >= 400:
		return metrics.OutcomeError
	}
	return metrics.OutcomeOK
}

// ftpOutcome is what became of an FTP download, for the metrics.
func ftpOutcome(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return metrics.OutcomeNotFound
	case err != nil:
		return metrics.OutcomeError
	}
	return metrics.OutcomeOK
}

// countInstall counts the end of m's install that it just reported and,
// when installed, how long it took since the machine powered on, under its
// profile.
func (a *App) countInstall(ctx context.Context, m store.Machine, st store.State) {
	if a.metrics == nil || (st != store.StateInstalled && st != store.StateFailed) {
		return
	}
	a.metrics.Install(string(st))
	if st != store.StateInstalled {
		return
	}
	evs, err := a.store.Events(ctx, m.MAC)
	if err != nil {
		a.log.Warn("install time not measured", "mac", m.MAC.String(), "err", err)
		return
	}
	took, ok := sincePowerOn(evs, time.Now())
	if !ok {
		a.log.Debug("install time not measured: no power-on in the timeline", "mac", m.MAC.String())
		return
	}
	profile := m.Profile
	if profile == "" {
		profile = metrics.Unregistered
	}
	a.metrics.InstallTime(profile, took)
}

// sincePowerOn is the time from the power-on (inventory.PowerOn) of the
// install whose end is evs' last event to now; false when the timeline
// holds none since the install before ended (its events were trimmed, or
// dropped under a flood), rather than a time that is not this install's.
func sincePowerOn(evs []store.Event, now time.Time) (time.Duration, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if inventory.PowerOn(evs, i) {
			return now.Sub(evs[i].Time), true
		}
		if i < len(evs)-1 && evs[i].Kind == events.PhoneHome &&
			(evs[i].Fields.State == string(store.StateInstalled) || evs[i].Fields.State == string(store.StateFailed)) {
			return 0, false
		}
	}
	return 0, false
}
