//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// TFTP opcodes (RFC 1350, 2347).
const (
	opRRQ   = 1
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// errTFTPNotFound is the server's "file not found" (error code 1): pxelinux
// goes on to the next config file name.
var errTFTPNotFound = errors.New("tftp: file not found")

// tftpClient reads files the way boot firmware and pxelinux do: one
// transfer at a time, lock-step, from one local address.
type tftpClient struct {
	local   netip.Addr // the machine's address
	device  string     // the machine's interface
	port    uint16     // the server's port; 0 is 69
	blksize int        // asked for with option blksize (RFC 2348)
	timeout time.Duration
	tries   int // transmissions of a packet before giving up

	retransmits int // packets sent again after a timeout, all transfers
}

// tftpError is an ERROR packet from the server.
type tftpError struct {
	code uint16
	msg  string
}

func (e *tftpError) Error() string { return fmt.Sprintf("tftp: error %d: %s", e.code, e.msg) }

func (e *tftpError) Is(target error) bool { return target == errTFTPNotFound && e.code == 1 }

// get reads name from server into w and returns its size. It asks for
// tsize and blksize; a server that ignores options sends 512-byte blocks.
func (c *tftpClient) get(ctx context.Context, server netip.Addr, name string, w io.Writer) (int64, error) {
	lc := net.ListenConfig{Control: bindToDevice(c.device)}
	pc, err := lc.ListenPacket(ctx, "udp4", netip.AddrPortFrom(c.local, 0).String())
	if err != nil {
		return 0, fmt.Errorf("tftp: listen: %w", err)
	}
	defer pc.Close()
	conn := pc.(*net.UDPConn)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	rrq := binary.BigEndian.AppendUint16(nil, opRRQ)
	for _, s := range []string{name, "octet", "tsize", "0", "blksize", strconv.Itoa(c.blksize)} {
		rrq = append(append(rrq, s...), 0)
	}
	port := c.port
	if port == 0 {
		port = 69
	}
	dest := net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, port))
	var peer *net.UDPAddr // the server's transfer port, from its first answer
	last := rrq           // what to send again on a timeout
	blksize, tsize := 512, int64(-1)
	next := uint16(1)
	var got int64
	buf := make([]byte, 65536+4)

	send := func(p []byte) error {
		to := dest
		if peer != nil {
			to = peer
		}
		_, err := conn.WriteToUDP(p, to)
		return err
	}
	if err := send(rrq); err != nil {
		return 0, fmt.Errorf("tftp: send request: %w", err)
	}
	tries := 1
	for {
		_ = conn.SetReadDeadline(time.Now().Add(c.timeout))
		n, from, err := conn.ReadFromUDP(buf)
		if ctx.Err() != nil {
			return got, ctx.Err()
		}
		var timeout net.Error
		if errors.As(err, &timeout) && timeout.Timeout() {
			if tries >= c.tries {
				return got, fmt.Errorf("tftp: %s: timed out after %d transmissions at block %d", name, tries, next)
			}
			tries++
			c.retransmits++
			if err := send(last); err != nil {
				return got, fmt.Errorf("tftp: send: %w", err)
			}
			continue
		}
		if err != nil {
			return got, fmt.Errorf("tftp: read: %w", err)
		}
		if peer != nil && !(from.IP.Equal(peer.IP) && from.Port == peer.Port) {
			continue // another transfer's packet (RFC 1350: wrong TID)
		}
		if n < 4 {
			continue
		}
		pkt := buf[:n]
		switch binary.BigEndian.Uint16(pkt) {
		case opERROR:
			msg, _, _ := bytes.Cut(pkt[4:], []byte{0})
			return got, &tftpError{code: binary.BigEndian.Uint16(pkt[2:]), msg: string(msg)}
		case opOACK:
			if peer != nil || next != 1 {
				continue
			}
			peer = from
			opts := parseOptions(pkt[2:])
			if v, err := strconv.Atoi(opts["blksize"]); err == nil && v >= 8 && v <= c.blksize {
				blksize = v
			}
			if v, err := strconv.ParseInt(opts["tsize"], 10, 64); err == nil {
				tsize = v
			}
			last = ack(0)
			tries = 1
			if err := send(last); err != nil {
				return got, fmt.Errorf("tftp: send: %w", err)
			}
		case opDATA:
			if peer == nil {
				peer = from // the server ignored the options
			}
			block := binary.BigEndian.Uint16(pkt[2:])
			if block != next {
				if block == next-1 { // our ACK was lost: say it again
					_ = send(ack(block))
				}
				continue
			}
			data := pkt[4:]
			if len(data) > blksize {
				return got, fmt.Errorf("tftp: %s: block %d of %d bytes, more than blksize %d", name, block, len(data), blksize)
			}
			if _, err := w.Write(data); err != nil {
				return got, err
			}
			got += int64(len(data))
			last = ack(block)
			tries = 1
			if err := send(last); err != nil {
				return got, fmt.Errorf("tftp: send: %w", err)
			}
			next++
			if len(data) < blksize {
				if tsize >= 0 && tsize != got {
					return got, fmt.Errorf("tftp: %s: got %d bytes, tsize said %d", name, got, tsize)
				}
				return got, nil
			}
		}
	}
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opACK), block)
}

// parseOptions reads an OACK's name\0value\0 pairs, names in lower case.
func parseOptions(b []byte) map[string]string {
	opts := map[string]string{}
	fields := bytes.Split(b, []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		opts[string(bytes.ToLower(fields[i]))] = string(fields[i+1])
	}
	return opts
}
