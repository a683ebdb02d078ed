package tftp

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
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

func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
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
	} {
		f.Add([]byte(seed))
	}
	s := &Server{}
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
		p := s.negotiate(req.options, int64(len(packet)))
		if p.blockSize < minBlockSize || p.blockSize > DefaultMaxBlockSize ||
			p.windowSize < 1 || p.windowSize > DefaultMaxWindowSize || p.timeout <= 0 {
			t.Fatalf("negotiated %+v from %+v", p, req.options)
		}
	})
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
