package doctor

import (
	"fmt"
	"time"

	"kickstand/internal/store"
)

// Outcome is where a machine's install stands.
type Outcome string

// The outcomes Diagnose reaches.
const (
	// OutcomeWaiting: no network boot seen since it was registered (or ever).
	OutcomeWaiting Outcome = "waiting"
	// OutcomeInProgress: the last step was recent; it may still be working.
	OutcomeInProgress Outcome = "in-progress"
	// OutcomeStuck: a step did not follow the last one in time.
	OutcomeStuck Outcome = "stuck"
	// OutcomeNotInstalling: it booted as told, but was not told to install
	// (not registered: the menu or its disk).
	OutcomeNotInstalling Outcome = "not-installing"
	// OutcomeInstalled and OutcomeFailed: the installer reported its end.
	OutcomeInstalled Outcome = "installed"
	OutcomeFailed    Outcome = "failed"
)

// Diagnosis says where a machine's install stands and, when it is stuck,
// why, each cause backed by the events it rests on.
type Diagnosis struct {
	MAC     string      `json:"mac"`
	Profile string      `json:"profile,omitempty"`
	State   store.State `json:"state"`
	Outcome Outcome     `json:"outcome"`
	// Summary is one line: what is going on.
	Summary string `json:"summary"`
	// Last is the last step of the install that happened; nil if none.
	Last *Step `json:"last_step,omitempty"`
	// Missing is the step that did not follow it; "" when none is due.
	Missing string `json:"missing_step,omitempty"`
	// Quiet is the seconds since its last event.
	Quiet float64 `json:"quiet_seconds"`
	// Causes are the likely causes, most likely first.
	Causes []Cause `json:"causes"`
}

// Step is one step of a network install and the event that shows it.
type Step struct {
	Name  string   `json:"name"`
	Event Evidence `json:"event"`
}

// Cause is a likely reason for where the machine is, with what to do.
type Cause struct {
	Text string `json:"text"`
	Fix  string `json:"fix,omitempty"`
	// Events are the events the cause rests on; More counts further events
	// like them that are not quoted.
	Events []Evidence `json:"events,omitempty"`
	More   int        `json:"more_events,omitempty"`
}

// Evidence is a timeline event, quoted.
type Evidence struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

// stage is a step of a network install, in order.
type stage int

const (
	stageNone       stage = iota
	stageDiscover         // the firmware's DISCOVER reached kickstand
	stageOffer            // kickstand offered a boot file
	stageAck              // kickstand acknowledged the address (full mode)
	stageLoader           // the boot program was fetched
	stageConfig           // its per-machine boot config was served
	stageKernel           // the installer kernel was fetched
	stageInitrd           // and its initrd
	stageKickstart        // the installer fetched its kickstart
	stageStage2           // and stage2: the installer's second stage started
	stageInstalling       // %pre reported installing
	stageEnded            // %post reported installed, or %onerror failed
)

// patience is how long each step may take before the machine counts as
// stuck after it: firmware steps take seconds (a BIOS with an option ROM
// up to half a minute), the installer's start and its install much longer.
func (s stage) patience() time.Duration {
	switch s {
	case stageKernel, stageInitrd, stageStage2:
		return 5 * time.Minute
	case stageKickstart:
		return 3 * time.Minute
	case stageInstalling:
		return 20 * time.Minute
	}
	return 2 * time.Minute
}

// maxQuoted is how many events a cause quotes.
const maxQuoted = 4

// Diagnose reads a machine's timeline (oldest first, as the store returns
// it) and says where its install stands at now: the last step that
// happened, the step that did not, and the likely causes, most likely
// first, each with the events it rests on. Times in its text are told in
// now's location. It is pure: it reads nothing but its arguments.
func Diagnose(m store.Machine, events []store.Event, now time.Time) Diagnosis {
	d := Diagnosis{MAC: m.MAC.String(), Profile: m.Profile, State: m.State, Causes: []Cause{}}
	all := parseEvents(events)
	t := newTrail(m, latestAttempt(all), all, now.Location())
	if n := len(all); n > 0 {
		d.Quiet = now.Sub(all[n-1].Time).Seconds()
	}
	if t.furthest != stageNone {
		d.Last = &Step{Name: t.stepName(t.furthest), Event: quote(t.stepEvent)}
	}
	switch {
	case m.State == store.StateInstalled:
		d.Outcome = OutcomeInstalled
		d.Summary = t.installedSummary()
		d.Causes = append(d.Causes, t.loopCauses()...)
		return d
	case m.State == store.StateFailed:
		d.Outcome = OutcomeFailed
		d.Summary, d.Causes = t.failedCauses()
		return d
	case t.furthest == stageNone && !t.active():
		d.Outcome = OutcomeWaiting
		d.Missing = t.missing()
		d.Summary = t.waitingSummary(now)
		d.Causes = append(d.Causes, t.gapCauses()...)
		return d
	case t.notInstalling():
		d.Outcome = OutcomeNotInstalling
		d.Summary = t.notInstallingSummary()
		d.Causes = append(d.Causes, t.specificCauses()...)
		d.Causes = append(d.Causes, t.notInstallingCauses()...)
		return d
	}
	d.Missing = t.missing()
	step, at := t.stepName(t.furthest), t.stepEvent.Time
	if t.furthest == stageNone { // requests, but none got it anywhere (--dhcp off)
		step, at = "its first requests", t.last.Time
	}
	if now.Sub(t.last.Time) < t.furthest.patience() {
		d.Outcome = OutcomeInProgress
		d.Summary = fmt.Sprintf("in progress: %s, %s ago; next: %s", step, ago(now.Sub(at)), d.Missing)
		d.Causes = append(d.Causes, t.specificCauses()...)
		return d
	}
	d.Outcome = OutcomeStuck
	d.Summary = fmt.Sprintf("stuck after %s, %s ago; missing: %s", step, ago(now.Sub(at)), d.Missing)
	d.Causes = append(d.Causes, t.specificCauses()...)
	if !t.explained() {
		d.Causes = append(d.Causes, t.gapCauses()...)
	}
	return d
}

// ago renders a duration for people: 40s, 12m, 3h5m, 2d4h.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func quote(e event) Evidence { return Evidence{Time: e.Time, Kind: string(e.Kind), Detail: e.Detail} }

// cause builds a Cause quoting up to maxQuoted of evs: the first ones and
// the last.
func cause(text, fix string, evs ...event) Cause {
	c := Cause{Text: text, Fix: fix}
	for i, e := range evs {
		if len(evs) > maxQuoted && i >= maxQuoted-1 && i < len(evs)-1 {
			c.More++
			continue
		}
		c.Events = append(c.Events, quote(e))
	}
	return c
}
