//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// fakeTFTP serves one read request on 127.0.0.1 from a new port, as a
// server's transfer does: with an OACK when options is true, dropping the
// first DATA of block dropBlock once so that the client must time out and
// send its ACK again. An empty file name answers "file not found".
func fakeTFTP(t *testing.T, file []byte, options bool, dropBlock uint16) (port uint16) {
	t.Helper()
	listen, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listen.Close() })
	go func() {
		buf := make([]byte, 2048)
		n, client, err := listen.ReadFromUDP(buf)
		if err != nil || binary.BigEndian.Uint16(buf) != opRRQ {
			return
		}
		fields := bytes.Split(buf[2:n], []byte{0})
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return
		}
		defer conn.Close()
		if string(fields[0]) == "missing" {
			msg := append(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opERROR), 1), "File not found\x00"...)
			_, _ = conn.WriteToUDP(msg, client)
			return
		}
		blksize := 512
		if options {
			blksize, _ = strconv.Atoi(string(fields[5]))
			oack := binary.BigEndian.AppendUint16(nil, opOACK)
			for _, s := range []string{"tsize", strconv.Itoa(len(file)), "blksize", strconv.Itoa(blksize)} {
				oack = append(append(oack, s...), 0)
			}
			_, _ = conn.WriteToUDP(oack, client)
			if _, _, err := conn.ReadFromUDP(buf); err != nil { // ACK 0
				return
			}
		}
		dropped := false
		for block := uint16(1); ; block++ {
			start := int(block-1) * blksize
			chunk := file[min(start, len(file)):min(start+blksize, len(file))]
			data := append(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opDATA), block), chunk...)
			for {
				if block != dropBlock || dropped {
					_, _ = conn.WriteToUDP(data, client)
				}
				dropped = dropped || block == dropBlock
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := conn.ReadFromUDP(buf)
				if err != nil {
					return
				}
				if n == 4 && binary.BigEndian.Uint16(buf) == opACK && binary.BigEndian.Uint16(buf[2:]) == block {
					break
				}
			}
			if len(chunk) < blksize {
				return
			}
		}
	}()
	return uint16(listen.LocalAddr().(*net.UDPAddr).Port)
}

func TestTFTPGet(t *testing.T) {
	file := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes: not a multiple of the block sizes
	for _, tc := range []struct {
		name      string
		options   bool
		dropBlock uint16
		retx      int
	}{
		{"options", true, 0, 0},
		{"no options", false, 0, 0},
		{"lost block", true, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := fakeTFTP(t, file, tc.options, tc.dropBlock)
			c := &tftpClient{local: netip.MustParseAddr("127.0.0.1"), port: port, blksize: 1468,
				timeout: 200 * time.Millisecond, tries: 5}
			var got bytes.Buffer
			n, err := c.get(context.Background(), netip.MustParseAddr("127.0.0.1"), "lpxelinux.0", &got)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(file)) || !bytes.Equal(got.Bytes(), file) {
				t.Errorf("got %d bytes, want the %d of the file", n, len(file))
			}
			if c.retransmits != tc.retx {
				t.Errorf("retransmits = %d, want %d", c.retransmits, tc.retx)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		port := fakeTFTP(t, file, true, 0)
		c := &tftpClient{local: netip.MustParseAddr("127.0.0.1"), port: port, blksize: 1468, timeout: time.Second, tries: 2}
		_, err := c.get(context.Background(), netip.MustParseAddr("127.0.0.1"), "missing", &bytes.Buffer{})
		if !errors.Is(err, errTFTPNotFound) {
			t.Errorf("get of a missing file: %v, want errTFTPNotFound", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c := &tftpClient{local: netip.MustParseAddr("127.0.0.1"), port: 9, blksize: 1468, timeout: 50 * time.Millisecond, tries: 3}
		_, err := c.get(context.Background(), netip.MustParseAddr("127.0.0.1"), "x", &bytes.Buffer{})
		if err == nil || c.retransmits != 2 {
			t.Errorf("get from nobody: %v after %d retransmits, want a timeout after 2", err, c.retransmits)
		}
	})
}
