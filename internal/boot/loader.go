package boot

import (
	"strconv"
	"strings"
)

// Client is what a DHCP request says about the program asking.
type Client struct {
	Firmware Firmware
	// IPXE is set when the client is iPXE already (user class "iPXE"):
	// it asks again after it started, for its script.
	IPXE bool
	// Script is the client's iPXE script name (IPXEScriptName of its MAC).
	Script string
}

// LoaderPolicy is how the server is set up to answer.
type LoaderPolicy struct {
	// FullDHCP is set when kickstand is the DHCP server. In proxy mode a
	// UEFI client gets shim and GRUB only when its distro's GRUB takes the
	// server from a proxyDHCP offer (Available.ProxyGRUB): others read
	// only the LAN server's answer, which does not point at kickstand.
	FullDHCP bool
	// IPXE chains BIOS PXE into iPXE, and UEFI x64 into iPXE instead of shim
	// (--ipxe).
	IPXE bool
	// UEFIHTTPOnly declines UEFI firmware PXE so that the firmware moves on
	// to HTTP Boot (--uefi-boot http).
	UEFIHTTPOnly bool
	// BaseURL is the HTTP server's address, for loaders fetched by URL.
	BaseURL string
}

// Available is what the served tree holds for this client.
type Available struct {
	IPXEBIOS bool // undionly.kpxe
	IPXEEFI  bool // snponly.efi
	// Shim is set when the client's distro has shim and GRUB for
	// ShimFirmware(client); the caller looks for them only when asked.
	Shim bool
	// ProxyGRUB is set when the client's distro's GRUB takes its server
	// from a proxyDHCP offer (GRUBTakesProxyOffers, or the operator says
	// so): then shim and GRUB go to UEFI machines in proxy mode too.
	ProxyGRUB bool
}

// LoaderChoice is the boot file a client is told to load, or why it gets
// none.
type LoaderChoice struct {
	File string // a name in the TFTP root, or a URL; "" for no answer
	// Missing says what to install or change when File is "", for the log;
	// "" when the client is one kickstand does not serve at all.
	Missing string
}

// ShimFirmware returns the firmware whose shim and GRUB ChooseLoader would
// give c if its distro has them, so that the caller looks only then.
func ShimFirmware(c Client, p LoaderPolicy) (Firmware, bool) {
	switch fw := c.Firmware; {
	case fw == FirmwareHTTPARM64:
		return FirmwareEFIARM64, true
	case fw == FirmwareHTTPX64 && !p.IPXE:
		return FirmwareEFIX64, true
	case fw == FirmwareEFIX64 && c.IPXE, p.UEFIHTTPOnly:
		return 0, false
	case fw == FirmwareEFIX64 && !p.IPXE, fw == FirmwareEFIARM64:
		return fw, true
	}
	return 0, false
}

// NeedsProxyGRUB reports whether shim and GRUB reach c only through a GRUB
// that takes proxy offers (Available.ProxyGRUB): UEFI PXE in proxy mode.
// Over HTTP Boot the firmware reads the proxy offer, and GRUB its own URL.
func NeedsProxyGRUB(c Client, p LoaderPolicy) bool {
	return !p.FullDHCP && (c.Firmware == FirmwareEFIX64 || c.Firmware == FirmwareEFIARM64)
}

// Advice on what is missing.
const (
	installIPXE  = "install the ipxe package (Debian) or ipxe-bootimgs-x86 (RHEL), or give --bootloader-dir"
	noARM64Shim  = "its distro has no EFI/BOOT/BOOTAA64.EFI and grubaa64.efi (aarch64 media)"
	noUEFIAnswer = "no shim for it in its distro (or proxy mode) and no iPXE for it; for x64 " + installIPXE
)

// ChooseLoader decides what boot program c gets: BIOS clients lpxelinux.0
// over TFTP (iPXE with --ipxe); iPXE clients their script over HTTP; UEFI
// firmware the distro's signed shim in full mode, and in proxy mode when
// the distro's GRUB takes proxy offers, so that Secure Boot machines
// install, else iPXE (x64 only); UEFI HTTP Boot the distro's shim by URL,
// else iPXE by URL (x64; --ipxe: always iPXE).
func ChooseLoader(c Client, p LoaderPolicy, have Available) LoaderChoice {
	fw := c.Firmware
	efi := fw == FirmwareEFIX64 || fw == FirmwareEFIARM64
	switch {
	case c.IPXE && (fw == FirmwareEFIX64 || fw == FirmwareBIOS && p.IPXE):
		// BIOS iPXE (a NIC's ROM) gets pxelinux unless --ipxe says otherwise.
		return LoaderChoice{File: p.BaseURL + "/" + c.Script}
	case fw == FirmwareBIOS && p.IPXE:
		return pick(IPXEBIOS, have.IPXEBIOS, IPXEBIOS+" is missing; "+installIPXE)
	case fw == FirmwareBIOS:
		return LoaderChoice{File: BootFile}
	case fw == FirmwareHTTPX64:
		// HTTP Boot loads one image by URL: the distro's shim, which loads
		// GRUB from beside its URL (Secure Boot), else iPXE, which then asks
		// for its script.
		if _, ok := ShimFirmware(c, p); ok && have.Shim {
			return LoaderChoice{File: p.BaseURL + "/" + ShimX64}
		}
		return pick(p.BaseURL+"/"+IPXEEFI, have.IPXEEFI, IPXEEFI+" is missing; "+installIPXE)
	case fw == FirmwareHTTPARM64:
		// No iPXE for aarch64 here: the distro's shim, which loads GRUB
		// from beside it, by URL.
		return pick(p.BaseURL+"/"+ShimARM64, have.Shim, noARM64Shim)
	case efi && p.UEFIHTTPOnly:
		// Declined fast: an offer without a boot file makes the firmware ask
		// again for a minute; a file TFTP does not have fails its PXE at
		// once, and it moves on to HTTP Boot.
		return LoaderChoice{File: DeclineUEFIPXE}
	case efi:
		if _, ok := ShimFirmware(c, p); ok && have.Shim && (!NeedsProxyGRUB(c, p) || have.ProxyGRUB) {
			shim, _, _ := EFILoaders(fw)
			return LoaderChoice{File: shim}
		}
		return pick(IPXEEFI, have.IPXEEFI && fw == FirmwareEFIX64, noUEFIAnswer)
	}
	return LoaderChoice{}
}

func pick(file string, ok bool, missing string) LoaderChoice {
	if !ok {
		return LoaderChoice{Missing: missing}
	}
	return LoaderChoice{File: file}
}

// GRUBTakesProxyOffers reports whether the GRUB of a distro (its family and
// version, as .treeinfo names them) takes its TFTP server from a proxyDHCP
// offer when the LAN's DHCP answer has no boot file: RHEL's "efinet: Add
// DHCP proxy support" patch, in RHEL and its rebuilds since 8.6, CentOS
// Stream and Fedora since 34. Upstream GRUB and older distros read only the
// LAN server's answer.
func GRUBTakesProxyOffers(family, version string) bool {
	f := strings.ToLower(family)
	major, minor := majorMinor(version)
	switch {
	case strings.Contains(f, "centos stream"):
		return true
	case strings.Contains(f, "fedora"):
		return major >= 34
	case strings.Contains(f, "red hat"), strings.Contains(f, "rocky"), strings.Contains(f, "alma"):
		return major > 8 || major == 8 && minor >= 6
	}
	return false
}

// majorMinor reads "9.6" (or "10", or "8.10") as numbers; what is not a
// number is 0.
func majorMinor(version string) (int, int) {
	maj, min, _ := strings.Cut(strings.TrimSpace(version), ".")
	major, _ := strconv.Atoi(maj)
	min, _, _ = strings.Cut(min, ".")
	minor, _ := strconv.Atoi(min)
	return major, minor
}
