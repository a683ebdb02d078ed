// Package boot makes kickstand's boot decisions without any I/O: given what
// a client is and what the store knows about it, it returns what to answer
// (boot file, configuration text, kernel, initrd, command line).
package boot

import (
	"fmt"
	"net"
	"strings"

	"kickstand/internal/store"
	"kickstand/internal/treepath"
)

// Unknown is the policy for machines that are not registered.
type Unknown string

// The policies for unknown machines.
const (
	// UnknownMenu shows a menu whose default, after a timeout, is the local disk.
	UnknownMenu Unknown = "menu"
	// UnknownInstall installs the first profile, like the classic hand-built setup.
	UnknownInstall Unknown = "install"
	// UnknownIgnore does not answer unknown machines at all.
	UnknownIgnore Unknown = "ignore"
)

// ParseUnknown returns the policy named s.
func ParseUnknown(s string) (Unknown, error) {
	switch u := Unknown(s); u {
	case UnknownMenu, UnknownInstall, UnknownIgnore:
		return u, nil
	}
	return "", fmt.Errorf("unknown --unknown policy %q: want menu, install or ignore", s)
}

// Firmware is the kind of boot environment a client runs.
type Firmware int

// The firmware kinds kickstand tells apart.
const (
	FirmwareUnknown   Firmware = iota
	FirmwareBIOS               // x86 BIOS PXE (arch 0)
	FirmwareEFIIA32            // 32-bit x86 UEFI (arch 6)
	FirmwareEFIX64             // x86-64 UEFI PXE (arch 7, and 9 which some firmware sends)
	FirmwareEFIARM64           // AArch64 UEFI PXE (arch 11)
	FirmwareHTTPX64            // x86-64 UEFI HTTP Boot (arch 16)
	FirmwareHTTPARM64          // AArch64 UEFI HTTP Boot (arch 19)
)

var firmwareNames = [...]string{"unknown", "bios", "efi-ia32", "efi-x64", "efi-arm64", "http-x64", "http-arm64"}

func (f Firmware) String() string { return firmwareNames[f] }

// Classify returns the firmware a client runs from its DHCP option 93
// (client system architecture, RFC 4578 and the IANA registry); a PXE
// client that sends none is BIOS. Unknown codes are FirmwareUnknown, never
// a guess.
func Classify(arch uint16, hasArch bool) Firmware {
	if !hasArch {
		return FirmwareBIOS
	}
	switch arch {
	case 0:
		return FirmwareBIOS
	case 6:
		return FirmwareEFIIA32
	case 7, 9:
		return FirmwareEFIX64
	case 11:
		return FirmwareEFIARM64
	case 16:
		return FirmwareHTTPX64
	case 19:
		return FirmwareHTTPARM64
	}
	return FirmwareUnknown
}

// BootFile is the network boot program BIOS clients get: lpxelinux.0 is
// pxelinux with an HTTP client, so kernel and initrd do not travel by TFTP.
const BootFile = "lpxelinux.0"

// IPXEEFI is the network boot program UEFI x64 firmware PXE clients get:
// iPXE using the firmware's own network driver (SNP).
const IPXEEFI = "snponly.efi"

// DeclineUEFIPXE is the boot file UEFI PXE clients get with --uefi-boot
// http: no such file is served, so the firmware's PXE fails at once and it
// moves on to HTTP Boot.
const DeclineUEFIPXE = "uefi-pxe-declined-use-http-boot"

// IPXEBIOS is the network boot program BIOS clients get with --ipxe: iPXE
// using the NIC's PXE stack (UNDI).
const IPXEBIOS = "undionly.kpxe"

// Action is what a client is told to do.
type Action int

// The actions.
const (
	ActionIgnore  Action = iota // send nothing
	ActionLocal                 // boot from the local disk
	ActionInstall               // install the one profile in Decision.Installs
	ActionMenu                  // offer local boot (the default) and each install
)

func (a Action) String() string {
	return [...]string{"ignore", "local", "install", "menu"}[a]
}

// Tree is a profile together with its distro.
type Tree struct {
	Profile store.Profile
	Distro  store.Distro
}

// Input is everything a decision depends on.
type Input struct {
	MAC     net.HardwareAddr
	Machine *store.Machine // nil when the store has never seen this MAC
	Trees   []Tree         // every profile with its distro, by profile name
	Unknown Unknown
	BaseURL string // e.g. "http://10.0.0.1"; no trailing slash
	FTPBase string // e.g. "ftp://10.0.0.1"; "" when FTP is off
	// PubDistro is the distro also served at pub/, as in the classic vsftpd setup.
	PubDistro string
	// Offers are the one-time kickstart tokens of the installs a machine
	// did not get from its registration (menu entries, --unknown install),
	// by profile name. An install without one has no inst.ks: the machine's
	// own token is never written into such a config.
	Offers map[string]string
}

// Install is one way to install a machine.
type Install struct {
	Profile string
	Distro  string
	Kernel  string // URL
	Initrd  string // URL
	Cmdline string
}

// Decision is the answer for one client.
type Decision struct {
	Action   Action
	Installs []Install
	Reason   string // why, for the log and the timeline
	// Offered is set when the installs are offers rather than the
	// machine's registration: each needs a one-time token in Input.Offers.
	Offered bool
	// GRUB is the dialect of the client's GRUB, for GRUB configs.
	GRUB GRUBDialect
	// BootIF names the NIC the client booted from as the installer reads
	// it ("01-52-54-00-12-34-56", the BOOTIF= argument), so that a machine
	// with several NICs installs over the one kickstand knows; "" when the
	// client's MAC is unknown. pxelinux (IPAPPEND 2) and iPXE (${mac})
	// know it themselves; GRUB configs write it out.
	BootIF string
}

// Profiles returns the profile of each install, in order.
func (d Decision) Profiles() []string {
	var names []string
	for _, i := range d.Installs {
		names = append(names, i.Profile)
	}
	return names
}

// Decide chooses what a client does on this boot. Only a machine that an
// operator registered installs unattended; a boot config never turns any
// other machine into an install by itself.
func Decide(in Input) Decision {
	d := decide(in)
	d.BootIF = bootIF(in.MAC)
	return d
}

// bootIF is the BOOTIF= value of an Ethernet MAC, as pxelinux's IPAPPEND 2
// writes it: hardware type 01, then the bytes in hex joined by '-'.
func bootIF(mac net.HardwareAddr) string {
	if len(mac) != 6 {
		return ""
	}
	return "01-" + strings.ReplaceAll(mac.String(), ":", "-")
}

func decide(in Input) Decision {
	m := in.Machine
	switch {
	case m != nil && m.State == store.StateInstalled:
		// Also a discovered machine installed from the menu.
		return Decision{Action: ActionLocal, Reason: "installed: boot from local disk"}
	case m != nil && m.Registered():
		return decideRegistered(in, m)
	case in.Unknown == UnknownIgnore:
		return Decision{Action: ActionIgnore, Reason: "unknown machine, --unknown ignore"}
	case m != nil && m.State == store.StateFailed:
		return menu(in, "install failed: menu, local disk by default")
	case in.Unknown == UnknownInstall:
		if len(in.Trees) == 0 {
			return Decision{Action: ActionLocal, Reason: "unknown machine, no profile to install"}
		}
		t := in.Trees[0]
		return Decision{Action: ActionInstall, Installs: []Install{install(in, t, in.Offers[t.Profile.Name])},
			Offered: true, Reason: "unknown machine, --unknown install: profile " + t.Profile.Name}
	}
	return menu(in, "unknown machine: menu, local disk by default")
}

func decideRegistered(in Input, m *store.Machine) Decision {
	if m.State == store.StateFailed {
		// Not again unattended: a person looks, then installs its own
		// profile from the menu or runs kickstand machine reinstall.
		own := in
		own.Trees = nil
		for _, t := range in.Trees {
			if t.Profile.Name == m.Profile {
				own.Trees = append(own.Trees, t)
			}
		}
		return menu(own, "install failed: menu, local disk by default")
	}
	for _, t := range in.Trees {
		if t.Profile.Name == m.Profile {
			return Decision{Action: ActionInstall, Installs: []Install{install(in, t, m.Token)},
				Reason: "registered: install profile " + m.Profile}
		}
	}
	return Decision{Action: ActionLocal, Reason: fmt.Sprintf("profile %q is missing: boot from local disk", m.Profile)}
}

// menu offers local boot (the default) and every tree, each with its
// one-time kickstart token.
func menu(in Input, reason string) Decision {
	d := Decision{Action: ActionMenu, Reason: reason, Offered: true}
	for _, t := range in.Trees {
		d.Installs = append(d.Installs, install(in, t, in.Offers[t.Profile.Name]))
	}
	return d
}

// RepoURL is the install tree's address as the installer should use it:
// FTP when the profile asks for it and FTP is on, else HTTP. Over FTP the
// distro served at pub/ is reached there, like the hand-built vsftpd setup.
func RepoURL(httpBase, ftpBase, pubDistro string, p store.Profile, distro string) string {
	if p.RepoProtocol != store.RepoFTP || ftpBase == "" {
		return treepath.DistroURL(httpBase, distro)
	}
	if distro == pubDistro {
		return treepath.PubURL(ftpBase)
	}
	return treepath.DistroURL(ftpBase, distro)
}

// KickstartURL is the kickstart address for token: a machine's own, or a
// one-time token of a menu entry.
func KickstartURL(base, token string) string {
	return base + "/ks/" + token
}

// install is tree t's install, fetching its kickstart with token ("" for
// none: the installer then asks at the console).
func install(in Input, t Tree, token string) Install {
	tree := treepath.DistroURL(in.BaseURL, t.Distro.Name)
	args := []string{"inst.repo=" + RepoURL(in.BaseURL, in.FTPBase, in.PubDistro, t.Profile, t.Distro.Name)}
	if token != "" {
		args = append(args, "inst.ks="+KickstartURL(in.BaseURL, token))
	}
	args = append(args, staticIPArgs(in.Machine, cmdlineArgs(t.Profile.KernelArgs))...)
	if extra := strings.TrimSpace(t.Profile.KernelArgs); extra != "" {
		args = append(args, extra)
	}
	return Install{
		Profile: t.Profile.Name,
		Distro:  t.Distro.Name,
		Kernel:  tree + t.Distro.Kernel,
		Initrd:  tree + t.Distro.Initrd,
		Cmdline: strings.Join(args, " "),
	}
}
