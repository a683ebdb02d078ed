package doctor

import (
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// Every detail form kickstand records today (internal/dhcp, internal/app),
// as real timelines show them.
func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		kind, detail string
		check        func(event) bool
	}{
		{"dhcp-discover", `vendor class "PXEClient:Arch:00007:UNDI:003000", arch 7 (EFI x86-64)`,
			func(e event) bool {
				return e.vendorClass == "PXEClient:Arch:00007:UNDI:003000" && e.arch == 7 && e.firmware()
			}},
		{"dhcp-discover", `vendor class "anaconda-Linux", arch none`,
			func(e event) bool { return e.arch == -1 && e.installerDHCP() && !e.firmware() }},
		{"dhcp-discover", "no vendor class", func(e event) bool { return e.vendorClass == "" && !e.firmware() }},
		{"dhcp-discover", `vendor class "say \"hi\", arch 3", arch 0 (Intel x86PC)`,
			func(e event) bool { return e.vendorClass == `say "hi", arch 3` && e.arch == 0 }},
		{"proxy-offer", `boot "http://10.213.7.1:8080/ipxe/01-52-54-00-f5-87-bc.ipxe" from 10.213.7.1, arch 7 (EFI x86-64)`,
			func(e event) bool {
				return e.bootFile == "http://10.213.7.1:8080/ipxe/01-52-54-00-f5-87-bc.ipxe" && e.nextServer == "10.213.7.1" && e.bootOffer()
			}},
		{"dhcp-ack", `inform; boot "lpxelinux.0" from 10.0.0.1, arch 0 (Intel x86PC)`, func(e event) bool { return e.bootFile == "lpxelinux.0" }},
		{"dhcp-offer", "address only", func(e event) bool { return e.bootFile == "" && !e.bootOffer() }},
		{"tftp", "lpxelinux.0 75072 bytes in 75ms",
			func(e event) bool {
				return e.file == "lpxelinux.0" && e.bytes == 75072 && e.duration == 75*time.Millisecond && e.ok()
			}},
		{"tftp", "BOOTX64.EFI: size query (tsize), no data asked", func(e event) bool { return e.sizeProbe && !e.ok() && !e.failed() }},
		{"tftp", "x86_64-efi/command.lst: not found", func(e event) bool { return e.notFound && e.file == "x86_64-efi/command.lst" }},
		{"tftp", `grubx64.efi 0 bytes in 15.204s: tftp: send "grubx64.efi": tftp: client stopped answering`,
			func(e event) bool { return e.failed() && e.timedOut() && e.bytes == 0 && e.file == "grubx64.efi" }},
		{"tftp", `lpxelinux.0 1468 bytes in 2s: tftp: send "lpxelinux.0": tftp: client sent error 0: "user abort: 1: 2"`,
			func(e event) bool {
				return e.file == "lpxelinux.0" && e.bytes == 1468 && e.failed() && !e.timedOut() && e.errText == `tftp: send "lpxelinux.0": tftp: client sent error 0: "user abort: 1: 2"`
			}},
		{"tftp", "my file.bin 10 bytes in 1ms", func(e event) bool { return e.file == "my file.bin" && e.bytes == 10 && e.ok() }},
		{"http", "distros/rocky9/images/pxeboot/vmlinuz 200: 8245760 bytes in 832ms",
			func(e event) bool { return e.status == 200 && e.bytes == 8245760 && e.isKernel() && e.ok() }},
		{"http", "distros/rocky9/AppStream/repodata/repomd.xml 404: 0 bytes in 0s", func(e event) bool { return e.notFound && !e.failed() }},
		{"http", "snponly.efi 503: 0 bytes in 0s", func(e event) bool { return e.failed() }},
		{"ftp", "pub/images/install.img 8388608 bytes in 50ms", func(e event) bool { return e.ok() && e.file == "pub/images/install.img" }},
		{"ftp", "pub/.treeinfo 0 bytes in 15.002s: network error: Unable to open transfer: failed to accept passive transfer connection: accept tcp [::]:30004: i/o timeout",
			func(e event) bool { return e.failed() && e.bytes == 0 }},
		{"boot-config", "grub.cfg-01-52-54-00-5e-c7-8b: registered: install profile rocky9",
			func(e event) bool { return e.file == "grub.cfg-01-52-54-00-5e-c7-8b" && e.install() }},
		{"boot-config", "pxelinux.cfg/01-52-54-00-3a-8d-28: installed: boot from local disk", func(e event) bool { return e.localBoot() && !e.menu() }},
		{"boot-config", "pxelinux.cfg/01-52-54-00-3a-8d-28: install failed: menu, local disk by default", func(e event) bool { return e.menu() && !e.localBoot() }},
		{"stage2", "images/install.img download started over HTTP", func(e event) bool { return !e.fetched }},
		{"stage2", "images/install.img fetched over FTP (8388608 bytes in 50ms): the installer starts its second stage", func(e event) bool { return e.fetched }},
		{"phone-home", "installing", func(e event) bool { return e.state == "installing" && !e.ended() }},
		{"phone-home", "failed: disk sda: no space", func(e event) bool { return e.state == "failed" && e.message == "disk sda: no space" && e.ended() }},
		{"kickstart-refused", "unknown token from 10.213.7.100", func(e event) bool { return e.refused() && e.reason == "unknown token from 10.213.7.100" }},
	} {
		e := parseEvent(store.Event{Kind: events.Kind(tc.kind), Detail: tc.detail})
		if !tc.check(e) {
			t.Errorf("%s %q parsed as %+v", tc.kind, tc.detail, e)
		}
	}
}
