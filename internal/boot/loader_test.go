package boot

import (
	"strings"
	"testing"
)

func TestChooseLoader(t *testing.T) {
	const base, script = "http://10.0.0.1", "ipxe/01-52-54-00-00-00-07.ipxe"
	full := LoaderPolicy{FullDHCP: true, BaseURL: base}
	proxy := LoaderPolicy{BaseURL: base}
	withIPXE := func(p LoaderPolicy) LoaderPolicy { p.IPXE = true; return p }
	httpOnly := func(p LoaderPolicy) LoaderPolicy { p.UEFIHTTPOnly = true; return p }
	all := Available{IPXEBIOS: true, IPXEEFI: true, Shim: true}
	noShim := Available{IPXEBIOS: true, IPXEEFI: true}
	shimOnly := Available{Shim: true}
	proxyGRUB := Available{IPXEBIOS: true, IPXEEFI: true, Shim: true, ProxyGRUB: true}
	client := func(fw Firmware, ipxe bool) Client { return Client{Firmware: fw, IPXE: ipxe, Script: script} }
	tests := []struct {
		name    string
		client  Client
		policy  LoaderPolicy
		have    Available
		want    string
		missing string // part of the advice when want is ""
	}{
		{"BIOS PXE", client(FirmwareBIOS, false), full, all, BootFile, ""},
		{"BIOS PXE, nothing else on the host", client(FirmwareBIOS, false), proxy, Available{}, BootFile, ""},
		{"BIOS iPXE ROM gets pxelinux", client(FirmwareBIOS, true), full, all, BootFile, ""},
		{"--ipxe BIOS PXE", client(FirmwareBIOS, false), withIPXE(full), all, IPXEBIOS, ""},
		{"--ipxe BIOS PXE without undionly.kpxe", client(FirmwareBIOS, false), withIPXE(full), shimOnly, "", "undionly.kpxe is missing"},
		{"--ipxe BIOS iPXE gets its script", client(FirmwareBIOS, true), withIPXE(proxy), Available{}, base + "/" + script, ""},
		{"UEFI x64 iPXE gets its script", client(FirmwareEFIX64, true), full, all, base + "/" + script, ""},
		{"UEFI x64 full mode: shim", client(FirmwareEFIX64, false), full, all, ShimX64, ""},
		{"UEFI x64 full mode without shim: iPXE", client(FirmwareEFIX64, false), full, noShim, IPXEEFI, ""},
		{"UEFI x64 proxy mode, GRUB without proxy support: iPXE", client(FirmwareEFIX64, false), proxy, all, IPXEEFI, ""},
		{"UEFI x64 proxy mode, GRUB takes proxy offers: shim", client(FirmwareEFIX64, false), proxy, proxyGRUB, ShimX64, ""},
		{"UEFI x64 proxy mode --ipxe: iPXE", client(FirmwareEFIX64, false), withIPXE(proxy), proxyGRUB, IPXEEFI, ""},
		{"UEFI arm64 proxy mode, GRUB takes proxy offers: shim", client(FirmwareEFIARM64, false), proxy, proxyGRUB, ShimARM64, ""},
		{"UEFI x64 full mode --ipxe: iPXE", client(FirmwareEFIX64, false), withIPXE(full), all, IPXEEFI, ""},
		{"UEFI x64 proxy mode without iPXE", client(FirmwareEFIX64, false), proxy, shimOnly, "", "no iPXE for it"},
		{"UEFI x64 nothing on the host", client(FirmwareEFIX64, false), full, Available{}, "", "ipxe package"},
		{"UEFI arm64 full mode: shim", client(FirmwareEFIARM64, false), full, all, ShimARM64, ""},
		{"UEFI arm64 full mode --ipxe: still shim", client(FirmwareEFIARM64, false), withIPXE(full), all, ShimARM64, ""},
		{"UEFI arm64 proxy mode: no iPXE for arm64", client(FirmwareEFIARM64, false), proxy, all, "", "no shim for it"},
		{"UEFI arm64 iPXE with shim: shim", client(FirmwareEFIARM64, true), full, all, ShimARM64, ""},
		{"UEFI arm64 iPXE without shim", client(FirmwareEFIARM64, true), full, noShim, "", "no shim"},
		{"--uefi-boot http declines x64 PXE", client(FirmwareEFIX64, false), httpOnly(full), all, DeclineUEFIPXE, ""},
		{"--uefi-boot http declines arm64 PXE", client(FirmwareEFIARM64, false), httpOnly(full), all, DeclineUEFIPXE, ""},
		{"--uefi-boot http still answers iPXE", client(FirmwareEFIX64, true), httpOnly(full), all, base + "/" + script, ""},
		{"HTTP Boot x64: shim by URL", client(FirmwareHTTPX64, false), httpOnly(proxy), all, base + "/" + ShimX64, ""},
		{"HTTP Boot x64: shim by URL in full mode", client(FirmwareHTTPX64, false), full, shimOnly, base + "/" + ShimX64, ""},
		{"HTTP Boot x64 without shim: iPXE by URL", client(FirmwareHTTPX64, false), httpOnly(proxy), noShim, base + "/" + IPXEEFI, ""},
		{"HTTP Boot x64 --ipxe: iPXE by URL", client(FirmwareHTTPX64, false), withIPXE(full), all, base + "/" + IPXEEFI, ""},
		{"HTTP Boot x64 without shim or iPXE", client(FirmwareHTTPX64, false), full, Available{}, "", "snponly.efi is missing"},
		{"HTTP Boot arm64: shim by URL, also in proxy mode", client(FirmwareHTTPARM64, false), proxy, shimOnly, base + "/" + ShimARM64, ""},
		{"HTTP Boot arm64 without aarch64 media", client(FirmwareHTTPARM64, false), full, noShim, "", "aarch64 media"},
		{"32-bit UEFI: not served", client(FirmwareEFIIA32, false), full, all, "", ""},
		{"unknown firmware: not served", client(FirmwareUnknown, false), full, all, "", ""},
	}
	for _, tt := range tests {
		got := ChooseLoader(tt.client, tt.policy, tt.have)
		if got.File != tt.want || tt.want != "" && got.Missing != "" {
			t.Errorf("%s: %+v, want file %q", tt.name, got, tt.want)
		}
		if tt.want == "" && (tt.missing == "") != (got.Missing == "") || !strings.Contains(got.Missing, tt.missing) {
			t.Errorf("%s: advice %q, want one with %q", tt.name, got.Missing, tt.missing)
		}
		// The caller looks for shim exactly when the choice can be it.
		fw, asks := ShimFirmware(tt.client, tt.policy)
		shim, _, _ := EFILoaders(fw)
		withShim := ChooseLoader(tt.client, tt.policy, Available{IPXEBIOS: tt.have.IPXEBIOS, IPXEEFI: tt.have.IPXEEFI, Shim: true, ProxyGRUB: true})
		isShim := strings.HasSuffix(withShim.File, ShimX64) || strings.HasSuffix(withShim.File, ShimARM64)
		if asks != isShim || asks && !strings.HasSuffix(withShim.File, shim) {
			t.Errorf("%s: ShimFirmware = %v, %v but with shim available the choice is %q", tt.name, fw, asks, withShim.File)
		}
	}
}

func TestGRUBConfigDir(t *testing.T) {
	for prefix, want := range map[string]string{
		"": "", "/": "", "/grub": "grub", "/grub/": "grub", "/EFI/rocky": "EFI/rocky",
		"(,gpt2)/boot/grub": "", "($root)/grub": "", "grub": "", "/a/../grub": "grub",
	} {
		if got := GRUBConfigDir(prefix); got != want {
			t.Errorf("GRUBConfigDir(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func TestGRUBTakesProxyOffers(t *testing.T) {
	for _, tc := range []struct {
		family, version string
		want            bool
	}{
		{"Red Hat Enterprise Linux", "8.6", true},
		{"Red Hat Enterprise Linux", "8.5", false},
		{"Red Hat Enterprise Linux", "8.10", true},
		{"Red Hat Enterprise Linux", "7.9", false},
		{"Red Hat Enterprise Linux", "10.0", true},
		{"Rocky Linux", "9.6", true},
		{"Rocky Linux", "8.4", false},
		{"AlmaLinux", "8.6", true},
		{"CentOS Stream", "9", true},
		{"CentOS Linux", "8.5", false},
		{"Fedora", "34", true},
		{"Fedora", "33", false},
		{"Debian", "12", false},
		{"", "", false},
	} {
		if got := GRUBTakesProxyOffers(tc.family, tc.version); got != tc.want {
			t.Errorf("GRUBTakesProxyOffers(%q, %q) = %v, want %v", tc.family, tc.version, got, tc.want)
		}
	}
}
