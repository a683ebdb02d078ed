package boot

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// FuzzParseConfigName feeds arbitrary file names, as TFTP and HTTP clients
// ask for them, to the per-client config name parsers. A name one accepts
// must be its prefix, an Ethernet MAC and its suffix, and the canonical
// name of that MAC must parse back to it.
func FuzzParseConfigName(f *testing.F) {
	// The names pxelinux and GRUB asked for over TFTP in the end-to-end
	// tests (captured, see internal/tftp's FuzzParseRequest; the TFTP server
	// drops GRUB's leading slash), the iPXE script name of the same form,
	// and near misses.
	for _, s := range []string{
		"pxelinux.cfg/01-52-54-00-c7-38-b3",
		"grub.cfg-01-52-54-00-1f-49-fd",
		"/grub.cfg-01-52-54-00-1f-49-fd",
		"ipxe/01-52-54-00-12-34-56.ipxe",
		"pxelinux.cfg/01-52:54:00:12:34:56",
		"pxelinux.cfg/01-5254.0012.3456",
		"pxelinux.cfg/01-52-54-00-12-34-56-78-9a",
		"pxelinux.cfg/C0A8010A",
		"pxelinux.cfg/default",
		"grub.cfg-01-52-54-00-12-34-56\x00",
		"ipxe/01-52-54-00-12-34-56.ipxe/../../x",
	} {
		f.Add(s)
	}
	parsers := []struct {
		parse  func(string) (net.HardwareAddr, bool)
		name   func(net.HardwareAddr) string
		prefix string
		suffix string
	}{
		{ParsePXELinuxConfigName, PXELinuxConfigName, "pxelinux.cfg/01-", ""},
		{ParseIPXEScriptName, IPXEScriptName, "ipxe/01-", ".ipxe"},
		{ParseGRUBConfigName, GRUBConfigName, "grub.cfg-01-", ""},
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, p := range parsers {
			mac, ok := p.parse(name)
			if !ok {
				continue
			}
			if len(mac) != 6 || !strings.HasPrefix(name, p.prefix) || !strings.HasSuffix(name, p.suffix) {
				t.Fatalf("%q parsed as MAC %v", name, mac)
			}
			middle := name[len(p.prefix) : len(name)-len(p.suffix)]
			if strings.ContainsAny(middle, "/\\\x00 ") {
				t.Fatalf("%q parsed as MAC %v, with %q in the middle", name, mac, middle)
			}
			canonical := p.name(mac)
			again, ok := p.parse(canonical)
			if !ok || !bytes.Equal(again, mac) {
				t.Fatalf("%q parsed as %v, whose name %q parses as %v, %v", name, mac, canonical, again, ok)
			}
		}
	})
}
