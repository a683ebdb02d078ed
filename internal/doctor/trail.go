package doctor

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"kickstand/internal/boot"
	"kickstand/internal/store"
)

// firstStageLoaders are the boot programs firmware loads first, as
// kickstand serves them at the TFTP root.
var firstStageLoaders = []string{boot.BootFile, "pxelinux.0", boot.IPXEBIOS, boot.IPXEEFI, "ipxe.efi", boot.ShimX64, boot.ShimARM64}

// secondStageLoaders are what the first ones load before any config.
var secondStageLoaders = []string{"ldlinux.c32", boot.GRUBX64, boot.GRUBARM64}

// trail is one install attempt, read: how far it got, and what it shows.
type trail struct {
	m   store.Machine
	att []event // the latest attempt, oldest first
	all []event // the whole timeline

	last      event // the attempt's last event
	furthest  stage // the furthest step it reached
	stepEvent event // the latest event of that step
	offer     *event
	full      bool           // kickstand lent the address (dhcp-offer with a boot file)
	loc       *time.Location // where times are told
}

func newTrail(m store.Machine, att, all []event, loc *time.Location) *trail {
	t := &trail{m: m, att: att, all: all, loc: loc}
	if len(att) > 0 {
		t.last = att[len(att)-1]
	}
	for i, e := range att {
		if e.bootOffer() {
			t.offer = &att[i]
			if e.Kind == kindOffer || e.Kind == kindAck {
				t.full = true
			}
		}
	}
	for _, e := range att {
		if s := t.stageOf(e); s != stageNone && s >= t.furthest {
			t.furthest, t.stepEvent = s, e
		}
	}
	return t
}

// stageOf is the install step an event shows, if any.
func (t *trail) stageOf(e event) stage {
	switch {
	case e.firmware():
		return stageDiscover
	case e.bootOffer() && (e.Kind == kindOffer || e.Kind == kindProxyOffer):
		return stageOffer
	case e.bootOffer():
		return stageAck
	case e.ok() && (t.firstStage(e.base()) || slices.Contains(secondStageLoaders, e.base())):
		return stageLoader
	case e.Kind == kindBootConfig:
		return stageConfig
	case e.ok() && e.isKernel():
		return stageKernel
	case e.ok() && e.isInitrd():
		return stageInitrd
	case e.Kind == kindKickstart:
		return stageKickstart
	case e.Kind == kindStage2 && e.fetched:
		return stageStage2
	case e.Kind == kindPhoneHome && e.state == string(store.StateInstalling):
		return stageInstalling
	case e.ended():
		return stageEnded
	}
	return stageNone
}

// firstStage reports whether name is a boot program firmware loads first:
// one kickstand offered in this attempt, or a known one.
func (t *trail) firstStage(name string) bool {
	if slices.Contains(firstStageLoaders, name) {
		return true
	}
	for _, e := range t.att {
		if e.bootOffer() && bootFileBase(e.bootFile) == name {
			return true
		}
	}
	return false
}

// bootFileBase is the file name of an offered boot file (a URL's too).
func bootFileBase(bootFile string) string {
	if u, err := url.Parse(bootFile); err == nil && u.Scheme != "" {
		return path.Base(u.Path)
	}
	return path.Base(strings.TrimPrefix(bootFile, "/"))
}

func (t *trail) stepName(s stage) string {
	e := t.stepEvent
	switch s {
	case stageDiscover:
		return fmt.Sprintf("its firmware's DHCP DISCOVER (%s)", e.vendorClass)
	case stageOffer:
		return fmt.Sprintf("kickstand's DHCP offer of %q", e.bootFile)
	case stageAck:
		return fmt.Sprintf("kickstand's DHCP ACK (boot %q)", e.bootFile)
	case stageLoader:
		return fmt.Sprintf("%s fetched over %s", e.file, strings.ToUpper(string(e.Kind)))
	case stageConfig:
		return fmt.Sprintf("its boot config %s (%s)", e.file, e.reason)
	case stageKernel:
		return "the installer kernel fetched"
	case stageInitrd:
		return "the installer's kernel and initrd fetched"
	case stageKickstart:
		return "its kickstart fetched"
	case stageStage2:
		return "stage2 fetched (the installer's second stage started)"
	case stageInstalling:
		return "the installer's installing report (%pre)"
	case stageEnded:
		return "the installer's " + e.state + " report"
	}
	return "nothing"
}

// missing names the step that should follow the furthest one.
func (t *trail) missing() string {
	switch t.furthest {
	case stageNone:
		if t.active() {
			return "a boot program it could start"
		}
		return "a network boot (no DHCP DISCOVER from it reached kickstand)"
	case stageDiscover:
		return "kickstand's boot offer"
	case stageOffer:
		if t.full {
			return "its DHCP REQUEST for kickstand's offer"
		}
		return t.loaderFetch()
	case stageAck:
		return t.loaderFetch()
	case stageLoader:
		return "its boot config (" + t.configName() + ")"
	case stageConfig:
		return "the installer kernel and initrd"
	case stageKernel:
		return "the installer's initrd"
	case stageInitrd:
		return "the installer's kickstart request"
	case stageKickstart:
		return "stage2 (the installer's images/install.img)"
	case stageStage2:
		return "the installer's installing report (%pre)"
	case stageInstalling:
		return "the installer's installed report (%post)"
	}
	return ""
}

// loaderFetch names the download of the offered boot file.
func (t *trail) loaderFetch() string {
	if t.offer == nil {
		return "the boot program's download"
	}
	name := bootFileBase(t.offer.bootFile)
	tries := t.after(*t.offer, func(e event) bool { return e.transfer() && e.base() == name && !e.sizeProbe })
	proto, article := "TFTP", "a"
	if u, err := url.Parse(t.offer.bootFile); err == nil && u.Scheme == "http" {
		proto, article = "HTTP", "an"
	}
	if len(tries) > 0 {
		return fmt.Sprintf("a complete %s download of %s (%d tried, none finished)", proto, t.offer.bootFile, len(tries))
	}
	return fmt.Sprintf("%s %s request for %s", article, proto, t.offer.bootFile)
}

// configName is the per-machine config the loaded boot program asks for.
func (t *trail) configName() string {
	mac := t.m.MAC
	switch t.stepEvent.base() {
	case boot.ShimX64, boot.ShimARM64, boot.GRUBX64, boot.GRUBARM64:
		return boot.GRUBConfigName(mac)
	case boot.IPXEEFI, boot.IPXEBIOS, "ipxe.efi":
		return "iPXE's own DHCP, then " + boot.IPXEScriptName(mac)
	}
	return boot.PXELinuxConfigName(mac)
}

// active reports whether the attempt has anything from the wire, rather
// than only an operator's registration.
func (t *trail) active() bool {
	for _, e := range t.att {
		switch e.Kind {
		case kindRegistered, kindReinstall, kindEdited:
		default:
			return true
		}
	}
	return false
}

// lastBootConfig is the attempt's last boot config served, if any.
func (t *trail) lastBootConfig() (event, bool) {
	for i := len(t.att) - 1; i >= 0; i-- {
		if t.att[i].Kind == kindBootConfig {
			return t.att[i], true
		}
	}
	return event{}, false
}

// notInstalling reports whether the machine booted as told but was told
// not to install: its disk or the menu, and nothing after.
func (t *trail) notInstalling() bool {
	cfg, ok := t.lastBootConfig()
	return ok && t.furthest == stageConfig && !cfg.install()
}

// where filters the attempt's events.
func (t *trail) where(keep func(event) bool) []event {
	var out []event
	for _, e := range t.att {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// after returns the attempt's events after e that keep accepts.
func (t *trail) after(e event, keep func(event) bool) []event {
	return t.where(func(x event) bool { return x.Time.After(e.Time) && keep(x) })
}

// lastEnd is the last installed or failed report in the whole timeline.
func (t *trail) lastEnd() (event, bool) {
	for i := len(t.all) - 1; i >= 0; i-- {
		if t.all[i].ended() {
			return t.all[i], true
		}
	}
	return event{}, false
}

// clock tells a time in the caller's location.
func (t *trail) clock(tm time.Time) string { return tm.In(t.loc).Format("2006-01-02 15:04:05") }

func (t *trail) installedSummary() string {
	s := "installed"
	if e, ok := t.lastEnd(); ok && e.state == string(store.StateInstalled) {
		s += " at " + t.clock(e.Time) + " (the installer reported it)"
	}
	s += "; it boots from its local disk until kickstand machine reinstall " + t.m.MAC.String()
	if cfg, ok := t.lastBootConfig(); ok && cfg.localBoot() {
		s += fmt.Sprintf("; it last asked at %s and was sent to its disk", t.clock(cfg.Time))
	}
	return s
}

func (t *trail) waitingSummary(now time.Time) string {
	if len(t.att) == 0 {
		return "kickstand has never seen it on the network"
	}
	first := t.att[0]
	switch first.Kind {
	case kindRegistered:
		return fmt.Sprintf("no network boot seen since it was registered at %s (%s ago)", t.clock(first.Time), ago(now.Sub(first.Time)))
	case kindReinstall:
		return fmt.Sprintf("no network boot seen since kickstand machine reinstall at %s (%s ago)", t.clock(first.Time), ago(now.Sub(first.Time)))
	}
	return fmt.Sprintf("no network boot seen since %s", t.clock(first.Time))
}

func (t *trail) notInstallingSummary() string {
	cfg, _ := t.lastBootConfig()
	if cfg.menu() {
		return fmt.Sprintf("not installing: it got the menu at %s (%s), which boots its disk unless someone picks an install at its console", t.clock(cfg.Time), cfg.reason)
	}
	return fmt.Sprintf("not installing: it was sent to its local disk at %s (%s)", t.clock(cfg.Time), cfg.reason)
}
