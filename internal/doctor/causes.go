package doctor

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"kickstand/internal/boot"
	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/tftp"
	"kickstand/internal/treepath"
)

// specificCauses are the causes the attempt's own events show, whatever
// step it stopped at: refusals, a kickstart that could not be served,
// failed transfers, files not found, boot loops. The ones that explain
// most come first.
func (t *trail) specificCauses() []Cause {
	var cs []Cause
	cs = append(cs, t.refusalCauses()...)
	cs = append(cs, t.kickstartCauses()...)
	cs = append(cs, t.transferCauses()...)
	found, others := t.notFoundCauses()
	cs = append(cs, found...)
	cs = append(cs, t.loopCauses()...)
	return append(cs, others...)
}

// explained reports whether the attempt's events show what went wrong
// (specificCauses finds more than files that tell nothing certain): then
// the guesses about the missing step are left out.
func (t *trail) explained() bool {
	found, _ := t.notFoundCauses()
	return len(t.refusalCauses())+len(t.kickstartCauses())+len(t.transferCauses())+len(found)+len(t.loopCauses()) > 0
}

// refusalCauses explain what kickstand refused the machine, and why.
func (t *trail) refusalCauses() []Cause {
	var cs []Cause
	for _, what := range []events.Kind{kindBootConfig, kindKickstart, kindPhoneHome} {
		kind := events.Refused(what)
		evs := t.where(func(e event) bool { return e.Kind == kind })
		if len(evs) == 0 {
			continue
		}
		last := evs[len(evs)-1].reason
		switch {
		case strings.Contains(last, "held by"):
			cs = append(cs, cause(fmt.Sprintf("kickstand refused its %s: the address it asked from belongs to another registered machine (the kernel's neighbour table): two machines share an address", what),
				"give each machine its own address: look for a duplicate reservation (--ip) or a static address in use twice", evs...))
		case strings.Contains(last, "is not known as an address"):
			cs = append(cs, cause(fmt.Sprintf("kickstand refused its %s: it asked from an address kickstand does not know as the machine's — it sits behind NAT, or behind a relay whose DHCP kickstand did not see", what),
				"if machines reach kickstand through NAT, run kickstand serve with --ks-source-check=false", evs...))
		case strings.Contains(last, "nobody registered"):
			cs = append(cs, cause("kickstand refused its kickstart: the URL carries the token of a machine nobody registered, and only registered machines install unattended",
				"kickstand machine add "+t.m.MAC.String()+" --profile NAME, then boot it again", evs...))
		case what == kindPhoneHome:
			cs = append(cs, cause("kickstand refused the installer's reports: their token ended — the machine was reinstalled while it installed, or had reported its end already",
				"let the install finish and look at the machine; to install again: kickstand machine reinstall "+t.m.MAC.String()+" and boot it", evs...))
		case what == kindKickstart:
			cs = append(cs, cause("kickstand refused the kickstart: its URL's token is no longer valid — the machine was reinstalled or reported its end after its boot config was served, or a menu entry's one-time URL was used already or is over 30 minutes old",
				"boot it again: its next boot config carries the current URL", evs...))
		default:
			cs = append(cs, cause(fmt.Sprintf("kickstand refused its %s: %s", what, last), "", evs...))
		}
	}
	return cs
}

// kickstartCauses explain a kickstart kickstand would not serve.
func (t *trail) kickstartCauses() []Cause {
	var cs []Cause
	if evs := t.where(func(e event) bool { return e.Kind == kindKickstartInvalid }); len(evs) > 0 {
		cs = append(cs, cause("kickstand did not serve its kickstart: anaconda would refuse it ("+evs[len(evs)-1].reason+")",
			"fix the profile's kickstart template (kickstand kickstart validate FILE), then boot it again", evs...))
	}
	if evs := t.where(func(e event) bool { return e.Kind == kindKickstartError }); len(evs) > 0 {
		cs = append(cs, cause("kickstand could not render its kickstart ("+evs[len(evs)-1].reason+")",
			"fix the template, or give the variable it names: kickstand machine edit "+t.m.MAC.String()+" --var KEY=VALUE", evs...))
	}
	return cs
}

// transferCauses explain transfers that started and did not finish.
func (t *trail) transferCauses() []Cause {
	var cs []Cause
	failed := t.where(event.failed)
	stalled := func(e event) bool { return e.Kind == kindTFTP && e.timedOut() && e.bytes <= tftp.DefaultMaxBlockSize }
	stalls := filter(failed, stalled)
	if len(stalls) > 0 {
		e := stalls[len(stalls)-1]
		cs = append(cs, cause(fmt.Sprintf("TFTP stalled at the first block: %d bytes of %s acknowledged, then the client stopped answering — a full block (up to %d bytes) did not reach it: "+
			"the path's MTU is under 1500 (a VPN, VXLAN or another tunnel) or something on the way drops IP fragments", e.bytes, e.file, tftp.DefaultMaxBlockSize),
			"kickstand doctor shows the interface's MTU and the block size that fits it; raise the path's MTU to 1500, or cap TFTP blocks to fit", stalls...))
	}
	brokeOff := filter(failed, func(e event) bool { return e.Kind == kindTFTP && !stalled(e) })
	if len(brokeOff) > 0 {
		e := brokeOff[len(brokeOff)-1]
		cs = append(cs, cause(fmt.Sprintf("a TFTP transfer broke off: %s after %d bytes (%s)", e.file, e.bytes, e.errText),
			"a lossy link, a switch port that flaps, or the client gave up: see its console", brokeOff...))
	}
	ftpNoData := filter(failed, func(e event) bool { return e.Kind == kindFTP && e.bytes == 0 })
	if len(ftpNoData) > 0 {
		cs = append(cs, cause("FTP downloads carried no data ("+ftpNoData[len(ftpNoData)-1].errText+"): the passive data connections did not connect — a firewall drops FTP's passive ports",
			"open the passive range (--ftp-passive-ports, default 30000-30019/tcp; firewalld: firewall-cmd --add-port=30000-30019/tcp), or give the profile --repo-protocol http", ftpNoData...))
	}
	if evs := filter(failed, func(e event) bool { return e.Kind == kindFTP && e.bytes > 0 }); len(evs) > 0 {
		e := evs[len(evs)-1]
		cs = append(cs, cause(fmt.Sprintf("an FTP download broke off: %s after %d bytes (%s)", e.file, e.bytes, e.errText), "", evs...))
	}
	if evs := filter(failed, func(e event) bool { return e.Kind == kindHTTP }); len(evs) > 0 {
		e := evs[len(evs)-1]
		cs = append(cs, cause(fmt.Sprintf("kickstand answered HTTP %d for %s", e.status, e.file), "kickstand serve's log at that time says why", evs...))
	}
	return cs
}

func filter(evs []event, keep func(event) bool) []event {
	var out []event
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// missingFile is what a file asked for and not found tells.
type missingFile int

const (
	missingProbe      missingFile = iota // an optional file boot programs look for
	missingWrongPlace                    // a root file asked for under a directory
	missingGRUB                          // shim's GRUB
	missingMokManager                    // shim's MokManager: Secure Boot refused GRUB
	missingFallback                      // shim's fallback
	missingSyslinux                      // a syslinux module
	missingLoader                        // the boot program itself
	missingKernel                        // the installer's kernel or initrd
	missingTree                          // another file of a distro's tree
	missingConfig                        // the machine's own boot config
	missingOther
)

// classify says what a file not found tells.
func (t *trail) classify(name string) missingFile {
	base, dir := path.Base(name), path.Dir(name)
	inTree := treepath.InDistro(name)
	rootFile := boot.IsEFILoader(base) || slices.Contains(firstStageLoaders, base) || strings.HasSuffix(base, ".c32") ||
		base == boot.GRUBConfigName(t.m.MAC) || base == "grub.cfg"
	switch {
	case !inTree && dir != "." && rootFile, strings.Contains(name, "/pxelinux.cfg/") && !inTree:
		return missingWrongPlace
	case strings.HasPrefix(base, "revocations"), strings.HasPrefix(base, "shim_certificate"), base == "autoexec.ipxe",
		base == boot.DeclineUEFIPXE, strings.Contains(name, "-efi/"), strings.Contains(name, "i386-pc/"):
		return missingProbe
	case name == boot.PXELinuxConfigName(t.m.MAC), name == boot.GRUBConfigName(t.m.MAC), name == boot.IPXEScriptName(t.m.MAC):
		return missingConfig
	case strings.HasPrefix(name, "pxelinux.cfg/"), strings.HasPrefix(base, "grub.cfg"):
		return missingProbe // pxelinux's and GRUB's search for a config by UUID and address
	case base == boot.GRUBX64, base == boot.GRUBARM64:
		return missingGRUB
	case base == boot.MokManagerX64, base == boot.MokManagerARM64:
		return missingMokManager
	case base == boot.FallbackX64, base == boot.FallbackARM64:
		return missingFallback
	case strings.HasSuffix(base, ".c32"):
		return missingSyslinux
	case !inTree && t.firstStage(base):
		return missingLoader
	case inTree && (strings.HasPrefix(base, "vmlinuz") || strings.HasPrefix(base, "initrd")):
		return missingKernel
	case inTree:
		return missingTree
	}
	return missingOther
}

// notFoundCauses explain the files the machine asked for and did not get;
// others lists the ones that tell nothing certain.
func (t *trail) notFoundCauses() (found, others []Cause) {
	byKind := map[missingFile][]event{}
	for _, e := range t.where(func(e event) bool { return e.notFound }) {
		k := t.classify(e.file)
		byKind[k] = append(byKind[k], e)
	}
	for k := missingWrongPlace; k < missingOther; k++ {
		if c, ok := t.missingCause(k, byKind[k]); ok {
			found = append(found, c)
		}
	}
	if evs := byKind[missingOther]; len(evs) > 0 {
		others = append(others, cause(fmt.Sprintf("it asked for files kickstand does not have: %s (boot programs look for optional files; these matter only if nothing followed them)", fileNames(evs)),
			"", evs...))
	}
	return found, others
}

// missingCause explains the files of one kind the machine did not get.
func (t *trail) missingCause(k missingFile, evs []event) (Cause, bool) {
	if len(evs) == 0 {
		return Cause{}, false
	}
	e := evs[0]
	distro := "the default distro (the first --iso)"
	if t.m.Registered() {
		distro = "the distro of its profile " + t.m.Profile
	}
	switch k {
	case missingWrongPlace:
		fix := "set the DHCP boot filename without the directory (lpxelinux.0, BOOTX64.EFI); with --dhcp off, on the LAN's DHCP server"
		if t.firstStage(e.base()) {
			return cause(fmt.Sprintf("the firmware asked for its boot program as %s, under %s/, where kickstand serves nothing: the DHCP filename has a directory, and kickstand serves boot programs at the TFTP root",
				e.file, path.Dir(e.file)), fix, evs...), true
		}
		return cause(fmt.Sprintf("its boot program asked for %s — under %s/, where kickstand serves none of it: it was loaded from that directory (the DHCP filename has a path) and looks for its companions beside itself, but kickstand serves them at the TFTP root",
			fileNames(evs), path.Dir(e.file)), fix, evs...), true
	case missingGRUB:
		return cause(fmt.Sprintf("shim asked for %s and kickstand had none to give: it serves GRUB from EFI/BOOT/ of %s, and that media has none, or its ISO is missing or changed", e.file, distro),
			"kickstand distro list shows the media's state; use media with shim and GRUB in EFI/BOOT (the RHEL, Rocky, Alma and Fedora DVDs have them), or --ipxe", t.shimFetches(evs)...), true
	case missingMokManager:
		return cause(fmt.Sprintf("shim started MokManager (%s): Secure Boot refused the GRUB it loaded — shim and GRUB from different media, or GRUB signed by a key this machine does not trust — and %s has no %s to enrol a key with",
			e.file, distro, e.base()),
			"boot shim and GRUB from one distro's media, or turn Secure Boot off for the install", t.shimFetches(evs)...), true
	case missingFallback:
		return cause(fmt.Sprintf("shim fell back to %s: it did not find or could not start GRUB", e.file),
			"see the causes about GRUB; use media with shim and GRUB in EFI/BOOT", t.shimFetches(evs)...), true
	case missingSyslinux:
		return cause(fmt.Sprintf("lpxelinux.0 asked for %s, which kickstand does not have", fileNames(evs)),
			"the .c32 modules must come from the same syslinux as lpxelinux.0: "+installHint([]string{"ldlinux.c32"}, ""), evs...), true
	case missingLoader:
		return cause(fmt.Sprintf("the boot program the firmware asked for, %s, is not served", e.file), loaderFix(e.base(), distro), evs...), true
	case missingKernel:
		return cause(fmt.Sprintf("the installer's kernel or initrd was not found (%s): the distro's ISO moved or changed since import, or the distro was removed", fileNames(evs)),
			"kickstand distro list shows the media's state; re-import it", evs...), true
	case missingTree:
		return cause(fmt.Sprintf("the installer asked for %s, which the tree does not have", fileNames(evs)),
			"kickstand distro list shows the media's state; check the profile's kernel arguments (inst.repo, inst.stage2) against the media", evs...), true
	case missingConfig:
		if len(t.where(event.refused)) > 0 {
			return Cause{}, false // the refusal says why
		}
		return cause(fmt.Sprintf("its boot config %s was not served", e.file), "kickstand serve's log at that time says why", evs...), true
	}
	return Cause{}, false
}

// fileNames lists the files the events asked for, each once.
func fileNames(evs []event) string {
	var s []string
	for _, e := range evs {
		if !slices.Contains(s, e.file) {
			s = append(s, e.file)
		}
	}
	return strings.Join(s, ", ")
}

// shimFetches are the shim and GRUB downloads before the files shim did not
// find, with those: what shim loaded, then what it asked for.
func (t *trail) shimFetches(missing []event) []event {
	evs := t.where(func(e event) bool {
		return e.ok() && boot.IsEFILoader(e.base()) && e.Time.Before(missing[len(missing)-1].Time)
	})
	if len(evs) > 2 {
		evs = evs[len(evs)-2:]
	}
	out := append(evs, missing...)
	slices.SortStableFunc(out, func(a, b event) int { return a.Time.Compare(b.Time) })
	return out
}

func loaderFix(name, distro string) string {
	switch name {
	case boot.BootFile, "pxelinux.0", boot.IPXEEFI, boot.IPXEBIOS:
		return installHint([]string{name}, "")
	case boot.ShimX64, boot.ShimARM64:
		return "kickstand serves shim from EFI/BOOT/ of " + distro + ": kickstand distro list shows the media's state"
	}
	return "kickstand does not serve " + name + ": point the DHCP boot filename at lpxelinux.0 (BIOS) or BOOTX64.EFI (UEFI)"
}

// loopCauses find a boot program fetched again and again: the machine
// restarts, and its firmware boots from the network each time.
func (t *trail) loopCauses() []Cause {
	since := t.att // boots after an install's end are counted apart from it
	for i := len(since) - 1; i >= 0; i-- {
		if since[i].ended() {
			since = since[i+1:]
			break
		}
	}
	fetches := map[string][]event{}
	var names []string
	for _, e := range since {
		if e.ok() && t.firstStage(e.base()) {
			if _, ok := fetches[e.base()]; !ok {
				names = append(names, e.base())
			}
			fetches[e.base()] = append(fetches[e.base()], e)
		}
	}
	var cs []Cause
	for _, name := range names {
		evs := fetches[name]
		if len(evs) < 3 {
			continue
		}
		first, last := evs[0], evs[len(evs)-1]
		between := func(keep func(event) bool) []event {
			return t.where(func(e event) bool { return e.Time.After(first.Time) && e.Time.Before(last.Time) && keep(e) })
		}
		again := between(func(e event) bool { return e.bootOffer() && bootFileBase(e.bootFile) == name })
		text := fmt.Sprintf("boot loop: %s fetched %d times", name, len(evs))
		var c Cause
		switch {
		case len(between(func(e event) bool { return e.Kind == kindKickstart })) > 0:
			c = cause(text+", the install starting each time: the installer stops and the machine restarts before it reports",
				"watch its console for the installer's error; a reboot in %pre, or `reboot` without %post's report, loops like this", evs...)
		case len(between(event.localBoot)) > 0:
			c = cause(text+", each time sent to its local disk: the disk does not boot (nothing installed on it, or on another disk) and the firmware falls back to the network",
				"check the boot order and what is on the disk; kickstand machine reinstall "+t.m.MAC.String()+" installs it again", append(evs, between(event.localBoot)...)...)
		case len(between(func(e event) bool { return e.ok() && e.isKernel() })) > 0:
			c = cause(text+", the installer kernel each time: the kernel starts and the machine restarts (a kernel panic, an initrd for another kernel, or too little memory)",
				"watch its console", evs...)
		case (name == boot.IPXEEFI || name == boot.IPXEBIOS || name == "ipxe.efi") && len(again) > 0:
			// The first round whole (fetch, the offer that sends it back,
			// the fetch again), then the last fetch.
			c = cause(text+": iPXE's own DHCP request gets iPXE again instead of its script — iPXE does not say it is iPXE (user class \"iPXE\"), or the LAN's DHCP server sends it the boot file again",
				"make the LAN's DHCP server answer iPXE (user class iPXE) without a boot file, or let kickstand give the addresses (--dhcp full)", evs[0], again[0], evs[1], last)
		default:
			c = cause(text+": it starts and the machine comes back to the network (Secure Boot refusing the loader, or a loader for another architecture)",
				"watch its console; for Secure Boot, use --dhcp full so the distro's signed shim boots", evs...)
		}
		slices.SortStableFunc(c.Events, func(a, b Evidence) int { return a.Time.Compare(b.Time) })
		cs = append(cs, c)
	}
	return cs
}

// failedCauses explain an install the installer reported failed.
func (t *trail) failedCauses() (string, []Cause) {
	menu := "until then it gets the menu of its profile (local disk after 10 s)"
	fix := "read the installer's logs at its console (tty2; /tmp/anaconda.log, /tmp/program.log, /tmp/storage.log), fix the profile or its kickstart, then kickstand machine reinstall " +
		t.m.MAC.String() + "; " + menu
	e, ok := t.lastEnd()
	if !ok || e.state != string(store.StateFailed) {
		return "marked failed; the timeline has no failure report", append([]Cause{{Text: "its state is failed, but no report of the installer says why", Fix: fix}}, t.specificCauses()...)
	}
	msg := e.message
	if msg == "" {
		msg = "(no message)"
	}
	summary := fmt.Sprintf("the install failed at %s: the installer reported %s", t.clock(e.Time), msg)
	cs := []Cause{cause("the installer reported failure (%onerror): "+msg, fix, e)}
	return summary, append(cs, t.specificCauses()...)
}

// notInstallingCauses explain why a machine that booted was not installed.
func (t *trail) notInstallingCauses() []Cause {
	cfg, _ := t.lastBootConfig()
	mac := t.m.MAC.String()
	switch {
	case !t.m.Registered():
		return []Cause{cause("it is not registered: kickstand installs only machines an operator registered",
			"kickstand machine add "+mac+" --profile NAME; its next network boot installs", cfg)}
	case strings.HasPrefix(cfg.reason, "profile "):
		return []Cause{cause("its profile "+t.m.Profile+" does not exist any more", "kickstand machine edit "+mac+" --profile NAME", cfg)}
	}
	return nil
}
