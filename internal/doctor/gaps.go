package doctor

import (
	"fmt"
	"net/url"

	"kickstand/internal/boot"
)

// gapCauses are the likely causes of the step that did not follow the
// furthest one, most likely first. They come after the causes the events
// show themselves (specificCauses).
func (t *trail) gapCauses() []Cause {
	switch t.furthest {
	case stageNone:
		if t.active() {
			return nil // what it asked for, and did not get, says it
		}
		return t.noBootCauses()
	case stageDiscover:
		return t.noOfferCauses()
	case stageOffer:
		if t.full {
			return t.noRequestCauses()
		}
		return t.noLoaderCauses()
	case stageAck:
		return t.noLoaderCauses()
	case stageLoader:
		return t.noConfigCauses()
	case stageConfig:
		return t.noKernelCauses()
	case stageKernel:
		return []Cause{cause("the installer kernel was fetched but not its initrd: the boot loader stopped between them", "watch its console", t.stepEvent)}
	case stageInitrd:
		return t.noKickstartCauses()
	case stageKickstart:
		return t.noStage2Causes()
	case stageStage2:
		return t.noInstallingCauses()
	case stageInstalling:
		return t.noInstalledCauses()
	}
	return nil
}

func (t *trail) noBootCauses() []Cause {
	var ev []event
	if len(t.att) > 0 {
		ev = t.att[:1]
	}
	return []Cause{
		cause("it did not boot from the network: network (PXE) boot is off in its firmware, or comes after a disk that boots",
			"enable network boot and put it first, or pick it once from the firmware's boot menu", ev...),
		cause("its DHCP DISCOVER does not reach kickstand: it is on another network than kickstand's interface, or a firewall on this host drops 67/udp",
			"kickstand doctor checks the interface and the firewall; across routers, a DHCP relay (ip helper-address) must forward to kickstand too"),
		cause("it boots from another network card than the one registered ("+t.m.MAC.String()+"): a second port, or the BMC's",
			"compare with the MAC on its boot screen; kickstand machine list shows the machines seen on the wire"),
	}
}

func (t *trail) noOfferCauses() []Cause {
	discovers := t.where(event.firmware)
	d := discovers[len(discovers)-1]
	var cs []Cause
	if !t.m.Registered() {
		cs = append(cs, cause("it is not registered, and kickstand serve runs with --unknown ignore, which answers registered machines only",
			"kickstand machine add "+t.m.MAC.String()+" --profile NAME", discovers...))
	}
	fw := boot.Classify(uint16(max(d.arch, 0)), d.arch >= 0)
	ipxe := installHint([]string{boot.IPXEEFI}, "")
	switch fw {
	case boot.FirmwareEFIIA32:
		cs = append(cs, cause("it is 32-bit UEFI (arch 6), which kickstand does not serve", "boot it in BIOS (legacy) mode", discovers...))
	case boot.FirmwareEFIX64:
		cs = append(cs, cause("kickstand had no boot program for UEFI x64: the distro's shim (EFI/BOOT/BOOTX64.EFI, in --dhcp full) and iPXE's snponly.efi were both missing",
			"kickstand doctor lists the boot loaders; "+ipxe, discovers...))
	case boot.FirmwareHTTPX64:
		cs = append(cs, cause("UEFI HTTP Boot is answered with iPXE's snponly.efi, and kickstand has none", ipxe, discovers...))
	case boot.FirmwareEFIARM64, boot.FirmwareHTTPARM64:
		cs = append(cs, cause("aarch64 UEFI boots the distro's aarch64 shim and GRUB (EFI/BOOT/BOOTAA64.EFI, grubaa64.efi), in --dhcp full or by HTTP Boot: its distro has none",
			"give it a profile of aarch64 media", discovers...))
	case boot.FirmwareBIOS:
		cs = append(cs, cause("with --ipxe, BIOS machines are sent to undionly.kpxe, and kickstand has none", installHint([]string{boot.IPXEBIOS}, ""), discovers...))
	default:
		cs = append(cs, cause(fmt.Sprintf("its firmware (arch %d) is not one kickstand serves", d.arch), "", discovers...))
	}
	return append(cs,
		cause("in --dhcp full: no free address left in --dhcp-range", "widen the range or shorten --dhcp-lease"),
		cause("kickstand serve's log at "+t.clock(d.Time)+" says why it did not answer", "run kickstand serve with --debug to log every decision"))
}

func (t *trail) noRequestCauses() []Cause {
	discovers := t.where(event.firmware)
	offers := t.where(func(e event) bool { return e.bootOffer() })
	cs := []Cause{
		cause("another DHCP server answered it too, and it took that server's offer",
			"kickstand doctor lists every DHCP server that answers on the interface: stop the other one, or run kickstand with --dhcp proxy", offers...),
		cause("kickstand's offers did not reach it: a switch with DHCP snooping drops offers from untrusted ports, or a firewall on this host drops outgoing DHCP",
			"trust kickstand's switch port for DHCP snooping; kickstand doctor checks the firewall"),
	}
	if len(discovers) >= 2 {
		span := discovers[len(discovers)-1].Time.Sub(discovers[0].Time)
		cs = append(cs, cause(fmt.Sprintf("the firmware sent %d DISCOVERs over %s and gave up: a switch port that forwards only after spanning tree's 30 s (no portfast) loses the first exchanges", len(discovers), ago(span)),
			"make the machine's switch port an edge port (portfast)", discovers...))
	}
	return cs
}

func (t *trail) noLoaderCauses() []Cause {
	o := *t.offer
	name := bootFileBase(o.bootFile)
	asked := t.where(func(e event) bool { return e.transfer() && e.base() == name && e.Time.After(o.Time) })
	if len(asked) > 0 {
		if len(filter(asked, func(e event) bool { return !e.sizeProbe })) == 0 {
			return []Cause{cause(fmt.Sprintf("the firmware asked for the size of %s (TFTP tsize) and then not for its data", o.bootFile),
				"watch its console: firmware stops here when it cannot use the file (too large for its memory, or refused)", asked...)}
		}
		return nil // the request arrived: the transfer causes say how it ended
	}
	if u, err := url.Parse(o.bootFile); err == nil && u.Scheme == "http" {
		return []Cause{
			cause("its HTTP request for "+o.bootFile+" never arrived: a firewall on this host drops HTTP", "kickstand doctor checks the firewall; firewalld: firewall-cmd --add-service=http", o),
			cause("it cannot reach "+u.Host+": --server-ip names an address it cannot reach", "check --server-ip"),
		}
	}
	firewall := cause("a firewall on this host drops TFTP (69/udp): it got its boot file name, and its TFTP request never arrived (the firmware shows PXE-E32: TFTP open timeout, or a UEFI TFTP error)",
		"kickstand doctor checks the firewall; firewalld: firewall-cmd --add-service=tftp (with --permanent, then --reload)", o)
	unreachable := cause(fmt.Sprintf("next-server %s is not reachable from it: --server-ip names an address it cannot reach, or a router between does not forward", o.nextServer),
		"check --server-ip: the machine must reach it directly or by a route")
	if t.full {
		return []Cause{firewall, unreachable}
	}
	discovers := t.where(event.firmware)
	noAddress := cause("the LAN's DHCP server gave it no address: kickstand in --dhcp proxy never lends one, and without an address the firmware fetches nothing",
		"kickstand doctor shows whether a DHCP server offers addresses on the interface; without one use --dhcp full --dhcp-range FIRST-LAST", discovers...)
	otherBoot := cause("the LAN's DHCP server gives a boot file or next-server too, and the firmware followed that one",
		"kickstand doctor lists DHCP servers that give a boot file: remove their next-server and filename (options 66/67), or run kickstand with --dhcp off and point them at kickstand")
	if len(discovers) >= 3 {
		return []Cause{noAddress, firewall, otherBoot, unreachable}
	}
	return []Cause{firewall, noAddress, otherBoot, unreachable}
}

func (t *trail) noConfigCauses() []Cause {
	l := t.stepEvent
	switch l.base() {
	case boot.BootFile, "pxelinux.0":
		return []Cause{cause("lpxelinux.0 started but did not load ldlinux.c32, which must come from the same syslinux version",
			installHint([]string{"ldlinux.c32"}, ""), l)}
	case "ldlinux.c32":
		return []Cause{cause("pxelinux started but did not ask for "+boot.PXELinuxConfigName(t.m.MAC)+": it looks for configs under another path prefix (DHCP option 210), or its next TFTP requests did not arrive",
			"watch its console; remove option 210 from the LAN's DHCP server", l)}
	case boot.ShimX64, boot.ShimARM64:
		return []Cause{cause("shim started but did not ask for GRUB: Secure Boot refused shim, or shim could not reach kickstand's TFTP again",
			"watch its console", l)}
	case boot.GRUBX64, boot.GRUBARM64:
		return []Cause{cause("GRUB started but did not ask for "+boot.GRUBConfigName(t.m.MAC)+": it looks for its config in the directory it was loaded from (its prefix)",
			"watch its console; the DHCP boot filename must have no directory", l)}
	case boot.IPXEEFI, boot.IPXEBIOS, "ipxe.efi":
		again := t.after(l, event.firmware)
		if len(again) == 0 {
			if l.base() == boot.IPXEBIOS {
				return []Cause{cause("iPXE (undionly.kpxe) did not start, or its DHCP did not reach kickstand", "watch its console", l)}
			}
			return []Cause{cause("iPXE ("+l.base()+") did not start, or its DHCP did not reach kickstand: Secure Boot refuses snponly.efi, which Microsoft did not sign",
				"turn Secure Boot off, or use --dhcp full so that the distro's signed shim boots", l)}
		}
		return []Cause{cause("iPXE did its DHCP but did not fetch its script over HTTP: a firewall on this host drops HTTP",
			"kickstand doctor checks the firewall; firewalld: firewall-cmd --add-service=http", append([]event{l}, again...)...)}
	}
	return []Cause{cause("the boot program "+l.file+" started and asked for nothing more", "watch its console", l)}
}

func (t *trail) noKernelCauses() []Cause {
	cfg, _ := t.lastBootConfig()
	return []Cause{
		cause("its boot loader did not fetch the installer kernel: lpxelinux, GRUB and iPXE load it over HTTP, and a firewall on this host drops HTTP",
			"kickstand doctor checks the firewall; firewalld: firewall-cmd --add-service=http", cfg),
		cause("the boot loader stopped at its config: it could not read it, or it waits at a prompt", "watch its console"),
	}
}

func (t *trail) noKickstartCauses() []Cause {
	dhcp := t.after(t.stepEvent, event.installerDHCP)
	if len(dhcp) > 0 {
		return []Cause{cause("the installer has an address (its DHCP above) but did not fetch its kickstart: it cannot reach kickstand's HTTP from there",
			"check the route from that address to kickstand; kickstand doctor checks the firewall", dhcp...)}
	}
	network := "the installer did not get its network up: its initrd has no driver for the network card, or it brought up another card"
	if t.full {
		network += " (its own DHCP would show here, and none came)"
	}
	return []Cause{
		cause(network, "watch its console (dracut: 'no network', dracut-initqueue timeouts); name the card with the profile's kernel arguments (ip=DEVICE:dhcp, inst.ks.device=)", t.stepEvent),
		cause("the kernel did not start the installer: a kernel panic, an initrd for another kernel, or too little memory", "watch its console"),
	}
}

func (t *trail) noStage2Causes() []Cause {
	ks := t.stepEvent
	fetched := t.after(ks, func(e event) bool { return e.transfer() })
	started := t.after(ks, func(e event) bool { return e.Kind == kindStage2 && !e.fetched })
	var cs []Cause
	switch {
	case len(started) > 0:
		cs = append(cs, cause("stage2's download started and never finished: the installer stopped in the middle of it, or the transfer stalls (a slow link, a firewall dropping the connection)",
			"watch its console; kickstand serve's log shows the transfer", started...))
	case len(fetched) == 0:
		cs = append(cs, cause("the installer fetched its kickstart and then nothing from the install tree: inst.repo is unreachable from it — with --repo-protocol ftp, FTP's passive ports (30000-30019/tcp) must be open too",
			"kickstand doctor checks the firewall for HTTP, FTP and the passive range", ks))
	default:
		cs = append(cs, cause("the installer fetched from the tree but not stage2 (images/install.img)", "see the transfers above; watch its console", fetched...))
	}
	if n := t.m.Network; n.Static() {
		cs = append(cs, cause(fmt.Sprintf("its kickstart gives it a static address (%s, gateway %s): if that is wrong, the installer loses kickstand once it applies it", n.Address, orNone(n.Gateway.String())),
			"kickstand machine edit "+t.m.MAC.String()+" --address ADDR/LEN --gateway IP"))
	}
	return append(cs, cause("the installer stopped before its second stage: a dracut error, or too little memory for stage2", "watch its console"))
}

func (t *trail) noInstallingCauses() []Cause {
	s2 := t.stepEvent
	activity := t.after(s2, event.ok)
	noReport := cause(fmt.Sprintf("the installer works (%d files fetched after stage2) but never reported: its kickstart does not phone home — a custom template without {{ snippet \"phone-home\" }}", len(activity)),
		"add {{ snippet \"phone-home\" }} to the profile's kickstart template", activity...)
	pre := cause("%pre failed before it reported: anaconda stops at a %pre error", "watch its console; %pre's log is in /tmp on the installer", s2)
	route := "the installer has no route back to kickstand for its report"
	if n := t.m.Network; n.Static() {
		route += fmt.Sprintf(" (its kickstart sets a static address %s, gateway %s)", n.Address, orNone(n.Gateway.String()))
	}
	back := cause(route, "check the kickstart's network settings against the LAN")
	if len(activity) > 0 {
		return []Cause{noReport, pre, back}
	}
	return []Cause{pre, back}
}

func (t *trail) noInstalledCauses() []Cause {
	return []Cause{
		cause("the install stopped: anaconda waits at its console for an answer its kickstart did not give (a disk it will not touch without clearpart or ignoredisk, a missing setting)",
			"watch its console", t.stepEvent),
		cause("%post failed, or could not reach kickstand for its report", "the installed system's /root/ks-post.log, if the template writes one; watch the console"),
		cause("its kickstart does not report the end (a custom template without {{ snippet \"phone-home\" }}): the install may have finished",
			"boot it from its disk and look; kickstand machine show "+t.m.MAC.String()),
	}
}

func orNone(s string) string {
	if s == "" || s == "invalid IP" {
		return "none"
	}
	return s
}
