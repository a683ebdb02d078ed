package tftp

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		packet  string
		want    request
		wantErr error
	}{
		{
			name:   "plain",
			packet: "\x00\x01pxelinux.0\x00octet\x00",
			want:   request{opcode: opRRQ, filename: "pxelinux.0", mode: "octet"},
		},
		{
			name:   "options, mixed case",
			packet: "\x00\x01/boot/grubx64.efi\x00OCTET\x00TSize\x000\x00blksize\x001468\x00",
			want: request{opcode: opRRQ, filename: "/boot/grubx64.efi", mode: "octet",
				options: []option{{"tsize", "0"}, {"blksize", "1468"}}},
		},
		{
			name:   "netascii write",
			packet: "\x00\x02upload\x00netascii\x00",
			want:   request{opcode: opWRQ, filename: "upload", mode: "netascii"},
		},
		{
			name:   "padding and a truncated option are ignored",
			packet: "\x00\x01f\x00octet\x00\x00\x00blksize\x001024\x00windowsize\x008",
			want: request{opcode: opRRQ, filename: "f", mode: "octet",
				options: []option{{"blksize", "1024"}}},
		},
		{name: "empty", packet: "", wantErr: errShortPacket},
		{name: "data", packet: "\x00\x03\x00\x01abc", wantErr: errNotRequest},
		{name: "no file name", packet: "\x00\x01\x00octet\x00", wantErr: errMalformed},
		{name: "unterminated file name", packet: "\x00\x01file", wantErr: errMalformed},
		{name: "unterminated mode", packet: "\x00\x01f\x00octet", wantErr: errMalformed},
		{name: "mail mode", packet: "\x00\x01f\x00mail\x00", wantErr: errBadMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequest([]byte(tt.packet))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseRequest feeds arbitrary datagrams to parseRequest and negotiates
// what it accepts with three servers (default, widest and narrowest
// limits). An accepted request must round-trip through appendRequest with
// lower-case option names; the negotiated settings must be within the
// server's limits and the window's memory bound; the OACK must acknowledge
// only options the client sent, once each, with the values in force (the
// file's size for tsize), and decode back to them.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		// Captured with tcpdump in the network namespaces of the end-to-end
		// tests (test/e2e, QEMU): iPXE's option ROM on SeaBIOS and pxelinux
		// after it (TestBIOSInstallProxyDHCP); OVMF's PXE, shim and the
		// distro's GRUB (TestUEFIFirmwarePXEInstall); OVMF declined with
		// --uefi-boot http (TestUEFIHTTPBootInstall).
		"\x00\x01lpxelinux.0\x00octet\x00blksize\x001432\x00tsize\x000\x00",
		"\x00\x01ldlinux.c32\x00octet\x00tsize\x000\x00blksize\x001408\x00",
		"\x00\x01pxelinux.cfg/01-52-54-00-c7-38-b3\x00octet\x00tsize\x000\x00blksize\x001408\x00",
		"\x00\x01BOOTX64.EFI\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00", // OVMF: size probe
		"\x00\x01BOOTX64.EFI\x00octet\x00blksize\x001468\x00windowsize\x004\x00",               // OVMF: the download
		"\x00\x01revocations_sbat.efi\x00octet\x00blksize\x00512\x00windowsize\x004\x00",       // shim
		"\x00\x01grubx64.efi\x00octet\x00blksize\x00512\x00windowsize\x004\x00",                // shim
		"\x00\x01/grub.cfg-01-52-54-00-1f-49-fd\x00octet\x00blksize\x001024\x00tsize\x000\x00", // GRUB
		"\x00\x01/x86_64-efi/command.lst\x00octet\x00blksize\x001024\x00tsize\x000\x00",        // GRUB
		"\x00\x01snponly.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00", // OVMF, proxy mode
		"\x00\x01uefi-pxe-declined-use-http-boot\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00",
		// PXE ROM (Intel boot agent): tsize first, then the real request with blksize.
		"\x00\x01pxelinux.0\x00octet\x00tsize\x000\x00",
		"\x00\x01pxelinux.0\x00octet\x00blksize\x001456\x00",
		// UEFI firmware (EDK2): blksize, windowsize and tsize.
		"\x00\x01shimx64.efi\x00octet\x00blksize\x001468\x00windowsize\x004\x00tsize\x000\x00",
		// curl with --tftp-blksize 1024.
		"\x00\x01/vmlinuz\x00octet\x00tsize\x000\x00blksize\x001024\x00timeout\x006\x00",
		// atftp with options.
		"\x00\x01initrd.img\x00octet\x00blksize\x001428\x00windowsize\x008\x00tsize\x000\x00",
		// Plain RFC 1350 read and write.
		"\x00\x01pxelinux.cfg/01-52-54-00-12-34-56\x00netascii\x00",
		"\x00\x02upload.bin\x00octet\x00",
		"\x00\x01f\x00octet\x00\x00",
		// Every option twice, out of range, and at the limits.
		"\x00\x01f\x00octet\x00blksize\x0065464\x00windowsize\x0065535\x00blksize\x007\x00timeout\x00256\x00timeout\x001\x00tsize\x00-1\x00",
	} {
		f.Add([]byte(seed))
	}
	servers := []*Server{{}, {MaxBlockSize: maxBlockSize, MaxWindowSize: maxWindowSize}, {MaxBlockSize: minBlockSize, MaxWindowSize: 1}}
	f.Fuzz(func(t *testing.T, packet []byte) {
		req, err := parseRequest(packet)
		if err != nil {
			return
		}
		if req.filename == "" || (req.mode != "octet" && req.mode != "netascii") {
			t.Fatalf("accepted request %+v", req)
		}
		again, err := parseRequest(appendRequest(nil, req))
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip: got %+v, %v; want %+v", again, err, req)
		}
		requested := map[string]bool{}
		for _, o := range req.options {
			if o.name != strings.ToLower(o.name) || o.name == "" {
				t.Fatalf("option name %q", o.name)
			}
			requested[o.name] = true
		}
		for _, size := range []int64{-1, 0, int64(len(packet))} {
			for _, s := range servers {
				checkNegotiated(t, s, req.options, requested, size, s.negotiate(req.options, size))
			}
		}
	})
}

func checkNegotiated(t *testing.T, s *Server, options []option, requested map[string]bool, size int64, p params) {
	t.Helper()
	if p.blockSize < minBlockSize || p.blockSize > max(s.maxBlockSize(), defaultBlockSize) ||
		p.windowSize < 1 || p.windowSize > s.maxWindowSize() || p.timeout <= 0 ||
		(p.windowSize > 1 && p.windowSize*p.blockSize > maxWindowBytes) {
		t.Fatalf("negotiated %+v from %+v", p, options)
	}
	acked := map[string]string{}
	for _, o := range p.accepted {
		if _, twice := acked[o.name]; twice || !requested[o.name] {
			t.Fatalf("OACK %+v from %+v: %q twice or not asked for", p.accepted, options, o.name)
		}
		acked[o.name] = o.value
	}
	want := map[string]string{"blksize": strconv.Itoa(p.blockSize), "windowsize": strconv.Itoa(p.windowSize),
		"timeout": strconv.Itoa(int(p.timeout / time.Second)), "tsize": strconv.FormatInt(size, 10)}
	for name, value := range acked {
		if w, known := want[name]; !known || value != w {
			t.Fatalf("OACK %s=%q, in force %q (from %+v)", name, value, w, options)
		}
	}
	if _, ok := acked["tsize"]; ok && size <= 0 {
		t.Fatalf("OACK tsize for a file of unknown or zero size %d", size)
	}
	if _, ok := acked["blksize"]; !ok && p.blockSize != defaultBlockSize {
		t.Fatalf("block size %d without blksize in the OACK", p.blockSize)
	}
	if _, ok := acked["windowsize"]; !ok && p.windowSize != 1 {
		t.Fatalf("window size %d without windowsize in the OACK", p.windowSize)
	}
	if _, ok := acked["timeout"]; !ok && p.timeout != s.timeout() {
		t.Fatalf("timeout %v without timeout in the OACK", p.timeout)
	}
	oack := appendOACK(nil, p.accepted)
	var decoded []option
	for rest := oack[2:]; len(rest) > 0; {
		name, afterName, ok1 := cutString(rest)
		value, afterValue, ok2 := cutString(afterName)
		if !ok1 || !ok2 {
			t.Fatalf("OACK %q does not decode", oack)
		}
		decoded, rest = append(decoded, option{name, value}), afterValue
	}
	if opcodeOf(oack) != opOACK || !slices.Equal(decoded, p.accepted) {
		t.Fatalf("OACK %q decodes to %+v, not %+v", oack, decoded, p.accepted)
	}
}

func TestSizeProbe(t *testing.T) {
	tests := []struct {
		tr   Transfer
		want bool
	}{
		{Transfer{Err: &peerError{code: errCodeOptionsDenied}}, true},
		{Transfer{Bytes: 512, Err: &peerError{code: errCodeOptionsDenied}}, false},
		{Transfer{Err: &peerError{code: errCodeNotFound}}, false},
		{Transfer{Err: fmt.Errorf("wrapped: %w", &peerError{code: errCodeOptionsDenied})}, true},
		{Transfer{Err: errors.New("client stopped answering")}, false},
		{Transfer{}, false},
	}
	for i, tt := range tests {
		if got := tt.tr.SizeProbe(); got != tt.want {
			t.Errorf("case %d: SizeProbe(%+v) = %v, want %v", i, tt.tr, got, tt.want)
		}
	}
}
