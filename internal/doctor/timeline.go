package doctor

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// The event kinds the diagnosis reads.
const (
	kindDiscover         = events.DHCPDiscover
	kindOffer            = events.DHCPOffer
	kindAck              = events.DHCPAck
	kindProxyOffer       = events.ProxyOffer
	kindProxyAck         = events.ProxyAck
	kindTFTP             = events.TFTP
	kindHTTP             = events.HTTP
	kindFTP              = events.FTP
	kindBootConfig       = events.BootConfig
	kindKickstart        = events.Kickstart
	kindKickstartInvalid = events.KickstartInvalid
	kindKickstartError   = events.KickstartError
	kindStage2           = events.Stage2
	kindPhoneHome        = events.PhoneHome
	kindRegistered       = events.Registered
	kindEdited           = events.Edited
	kindReinstall        = events.Reinstall
)

// event is a timeline event with its facts: from its fields, and from its
// detail text for what fields do not carry (a boot config's reason, an
// installer's message) and for events recorded before events had fields
// (store migration 7). This file is the only place that reads the text.
type event struct {
	store.Event

	// dhcp-discover
	vendorClass string // option 60; "" when none
	// dhcp-discover, offers and acks: option 93, -1 when none
	arch int
	// offers and acks: what kickstand told the client to boot; "" when it
	// lent an address only
	bootFile, nextServer string

	// tftp, http and ftp transfers
	file      string // as requested, without a leading "/"
	bytes     int64
	duration  time.Duration
	status    int    // HTTP status
	notFound  bool   // TFTP "not found", HTTP 404
	sizeProbe bool   // a TFTP tsize query: no data asked
	errText   string // why a TFTP or FTP transfer ended early

	// boot-config: the config served and why, and what it tells the
	// machine (install, local, menu; "" when recorded without fields);
	// *-refused: the detail
	reason, action string

	// phone-home
	state, message string

	// stage2: the download ended (rather than began)
	fetched bool
}

var (
	quotedRE   = `"(?:[^"\\]|\\.)*"`
	discoverRE = regexp.MustCompile(`^vendor class (` + quotedRE + `), arch (none|\d+)`)
	bootRE     = regexp.MustCompile(`^(?:inform; )?boot (` + quotedRE + `) from (\S+), arch (none|\d+)`)
	transferRE = regexp.MustCompile(`^(.+?) (\d+) bytes in (\S+?)(?:: (.*))?$`)
	httpRE     = regexp.MustCompile(`^(.+) (\d{3}): (\d+) bytes in (\S+)$`)
)

// parseEvent reads an event's facts: what its detail says, then its fields
// where it has them.
func parseEvent(ev store.Event) event {
	e := parseDetail(ev)
	if ev.Fields != (events.Fields{}) {
		e.useFields(ev.Fields)
	}
	return e
}

// useFields takes an event's facts from its fields.
func (e *event) useFields(f events.Fields) {
	switch e.Kind {
	case kindDiscover:
		e.vendorClass = f.VendorClass
	case kindOffer, kindAck, kindProxyOffer, kindProxyAck:
		e.bootFile, e.nextServer = f.BootFile, f.NextServer
	case kindTFTP, kindFTP, kindHTTP:
		e.file, e.bytes, e.duration = f.File, f.Bytes, time.Duration(f.Seconds*float64(time.Second))
		e.status, e.notFound, e.sizeProbe, e.errText = f.Status, f.NotFound, f.SizeProbe, f.Error
	case kindBootConfig:
		e.file, e.action = f.File, f.Action
	case kindPhoneHome:
		e.state = f.State
	case kindStage2:
		e.file, e.fetched = f.File, f.Bytes > 0
	}
	e.arch = -1
	if f.Arch != nil {
		e.arch = int(*f.Arch)
	}
}

// parseDetail reads what an event's detail says about it.
func parseDetail(ev store.Event) event {
	e := event{Event: ev, arch: -1}
	d := ev.Detail
	switch ev.Kind {
	case kindDiscover:
		if m := discoverRE.FindStringSubmatch(d); m != nil {
			e.vendorClass, _ = strconv.Unquote(m[1])
			e.arch = parseArch(m[2])
		}
	case kindOffer, kindAck, kindProxyOffer, kindProxyAck:
		if m := bootRE.FindStringSubmatch(d); m != nil {
			e.bootFile, _ = strconv.Unquote(m[1])
			e.nextServer, e.arch = m[2], parseArch(m[3])
		}
	case kindTFTP, kindFTP:
		switch m := transferRE.FindStringSubmatch(d); {
		case m != nil:
			e.file = m[1]
			e.bytes, _ = strconv.ParseInt(m[2], 10, 64)
			e.duration, _ = time.ParseDuration(m[3])
			e.errText = m[4]
		case strings.HasSuffix(d, ": size query (tsize), no data asked"):
			e.file, e.sizeProbe = strings.TrimSuffix(d, ": size query (tsize), no data asked"), true
		case strings.HasSuffix(d, ": not found"):
			e.file, e.notFound = strings.TrimSuffix(d, ": not found"), true
		default:
			e.file = d
		}
	case kindHTTP:
		if m := httpRE.FindStringSubmatch(d); m != nil {
			e.file = m[1]
			e.status, _ = strconv.Atoi(m[2])
			e.bytes, _ = strconv.ParseInt(m[3], 10, 64)
			e.duration, _ = time.ParseDuration(m[4])
			e.notFound = e.status == 404
		}
	case kindBootConfig:
		e.file, e.reason, _ = strings.Cut(d, ": ")
	case kindPhoneHome:
		e.state, e.message, _ = strings.Cut(d, ": ")
	case kindStage2:
		e.fetched = strings.Contains(d, " fetched over ")
		e.file, _, _ = strings.Cut(d, " ")
	default:
		e.reason = d
	}
	e.file = strings.TrimPrefix(e.file, "/")
	return e
}

func parseArch(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func parseEvents(evs []store.Event) []event {
	out := make([]event, len(evs))
	for i, ev := range evs {
		out[i] = parseEvent(ev)
	}
	return out
}

// firmware reports whether a DISCOVER came from boot firmware (or iPXE):
// a PXE or HTTP Boot vendor class, not an installer's or an OS's DHCP.
func (e event) firmware() bool {
	return e.Kind == kindDiscover && (strings.HasPrefix(e.vendorClass, "PXEClient") || strings.HasPrefix(e.vendorClass, "HTTPClient"))
}

// installerDHCP reports whether a DISCOVER came from the installer.
func (e event) installerDHCP() bool {
	return e.Kind == kindDiscover && strings.HasPrefix(e.vendorClass, "anaconda")
}

// bootOffer reports whether kickstand told the client what to boot.
func (e event) bootOffer() bool {
	return (e.Kind == kindOffer || e.Kind == kindProxyOffer || e.Kind == kindAck || e.Kind == kindProxyAck) && e.bootFile != ""
}

// transfer reports whether the event is a file transfer.
func (e event) transfer() bool { return e.Kind == kindTFTP || e.Kind == kindHTTP || e.Kind == kindFTP }

// ok reports whether a transfer delivered its file.
func (e event) ok() bool {
	if !e.transfer() || e.notFound || e.sizeProbe || e.errText != "" {
		return false
	}
	return e.Kind != kindHTTP || e.status == 200 || e.status == 206
}

// failed reports whether a transfer was asked for and did not deliver
// (size queries and files not found aside).
func (e event) failed() bool {
	if !e.transfer() || e.notFound || e.sizeProbe {
		return false
	}
	return e.errText != "" || e.Kind == kindHTTP && e.status >= 400
}

// timedOut reports whether a TFTP transfer ended because the client went
// quiet.
func (e event) timedOut() bool { return strings.Contains(e.errText, "client stopped answering") }

func (e event) base() string { return path.Base(e.file) }

// isKernel and isInitrd recognise the installer's kernel and initrd.
func (e event) isKernel() bool {
	b := e.base()
	return strings.HasPrefix(b, "vmlinuz") || b == "linux"
}

func (e event) isInitrd() bool { return strings.HasPrefix(e.base(), "initrd") }

// ended reports whether a phone-home reported the install's end.
func (e event) ended() bool {
	return e.Kind == kindPhoneHome && (e.state == string(store.StateInstalled) || e.state == string(store.StateFailed))
}

// localBoot reports whether a boot config sent the machine to its disk.
func (e event) localBoot() bool {
	if e.action != "" {
		return e.Kind == kindBootConfig && e.action == "local"
	}
	return e.Kind == kindBootConfig && strings.Contains(e.reason, "boot from local disk") && !strings.Contains(e.reason, "menu")
}

// menu reports whether a boot config was a menu.
func (e event) menu() bool {
	if e.action != "" {
		return e.Kind == kindBootConfig && e.action == "menu"
	}
	return e.Kind == kindBootConfig && strings.Contains(e.reason, "menu")
}

// install reports whether a boot config installs.
func (e event) install() bool {
	if e.action != "" {
		return e.Kind == kindBootConfig && e.action == "install"
	}
	return e.Kind == kindBootConfig && (strings.HasPrefix(e.reason, "registered: install") || strings.Contains(e.reason, "--unknown install"))
}

// refused reports whether kickstand refused the machine something.
func (e event) refused() bool {
	_, ok := e.Kind.IsRefused()
	return ok
}

// quietGap is how long a machine is silent before a firmware DISCOVER is a
// new power-on rather than part of the same boot.
const quietGap = 10 * time.Minute

// latestAttempt returns the events of the machine's latest install
// attempt: from its last registration or reinstall, or from the last
// firmware DISCOVER that followed ten quiet minutes, whichever is later.
func latestAttempt(evs []event) []event {
	start := 0
	for i, e := range evs {
		switch {
		case e.Kind == kindRegistered, e.Kind == kindReinstall:
			start = i
		case e.firmware() && i > 0 && e.Time.Sub(evs[i-1].Time) > quietGap:
			start = i
		}
	}
	return evs[start:]
}
