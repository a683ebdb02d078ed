package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Opcodes, RFC 1350 section 5 and RFC 2347 (OACK).
const (
	opRRQ   uint16 = 1
	opWRQ   uint16 = 2
	opData  uint16 = 3
	opAck   uint16 = 4
	opError uint16 = 5
	opOACK  uint16 = 6
)

// Error codes, RFC 1350 appendix and RFC 2347 (code 8).
const (
	errCodeUndefined     uint16 = 0
	errCodeNotFound      uint16 = 1
	errCodeAccess        uint16 = 2
	errCodeUnknownTID    uint16 = 5
	errCodeOptionsDenied uint16 = 8
)

// headerSize is the size of the opcode and block number that precede DATA payloads.
const headerSize = 4

// Errors returned by parseRequest; the server only logs them.
var (
	errShortPacket = errors.New("tftp: packet too short")
	errNotRequest  = errors.New("tftp: not a request")
	errMalformed   = errors.New("tftp: malformed request")
	errBadMode     = errors.New("tftp: unsupported transfer mode")
)

// request is a parsed RRQ or WRQ.
type request struct {
	opcode   uint16
	filename string
	mode     string   // lower-cased: "octet" or "netascii"
	options  []option // in the order sent, names lower-cased
}

// option is one name/value pair of an RFC 2347 option extension.
type option struct {
	name  string
	value string
}

// parseRequest decodes an RRQ or WRQ. Options whose name or value lacks its NUL
// terminator at the end of the packet are dropped rather than failing the request,
// because some firmware pads requests with stray bytes.
func parseRequest(packet []byte) (request, error) {
	if len(packet) < 2 {
		return request{}, errShortPacket
	}
	req := request{opcode: binary.BigEndian.Uint16(packet)}
	if req.opcode != opRRQ && req.opcode != opWRQ {
		return request{}, fmt.Errorf("%w: opcode %d", errNotRequest, req.opcode)
	}
	filename, rest, ok := cutString(packet[2:])
	if !ok || filename == "" {
		return request{}, fmt.Errorf("%w: no file name", errMalformed)
	}
	mode, rest, ok := cutString(rest)
	if !ok {
		return request{}, fmt.Errorf("%w: no mode", errMalformed)
	}
	req.filename = filename
	// netascii is accepted and served as octet, as tftp-hpa does: what is served
	// here is boot loaders, kernels and configs, which translation would corrupt.
	req.mode = strings.ToLower(mode)
	if req.mode != "octet" && req.mode != "netascii" {
		return request{}, fmt.Errorf("%w: %q", errBadMode, mode)
	}
	for len(rest) > 0 {
		name, afterName, ok := cutString(rest)
		if !ok {
			break
		}
		value, afterValue, ok := cutString(afterName)
		if !ok {
			break
		}
		rest = afterValue
		if name == "" {
			continue // NUL padding
		}
		req.options = append(req.options, option{name: strings.ToLower(name), value: value})
	}
	return req, nil
}

// cutString splits a NUL-terminated string off the front of b.
func cutString(b []byte) (s string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", b, false
	}
	return string(b[:i]), b[i+1:], true
}

// appendRequest encodes a request; the tests and the fuzz target use it.
func appendRequest(dst []byte, req request) []byte {
	dst = binary.BigEndian.AppendUint16(dst, req.opcode)
	dst = appendString(dst, req.filename)
	dst = appendString(dst, req.mode)
	for _, o := range req.options {
		dst = appendString(dst, o.name)
		dst = appendString(dst, o.value)
	}
	return dst
}

// appendOACK encodes an option acknowledgement.
func appendOACK(dst []byte, options []option) []byte {
	dst = binary.BigEndian.AppendUint16(dst, opOACK)
	for _, o := range options {
		dst = appendString(dst, o.name)
		dst = appendString(dst, o.value)
	}
	return dst
}

// appendError encodes an ERROR packet.
func appendError(dst []byte, code uint16, message string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, opError)
	dst = binary.BigEndian.AppendUint16(dst, code)
	return appendString(dst, message)
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, s...)
	return append(dst, 0)
}

// putDataHeader writes the DATA opcode and block number into the first four bytes of packet.
func putDataHeader(packet []byte, block uint16) {
	binary.BigEndian.PutUint16(packet, opData)
	binary.BigEndian.PutUint16(packet[2:], block)
}

// opcodeOf returns the opcode of packet, or 0 when it is too short to have one.
func opcodeOf(packet []byte) uint16 {
	if len(packet) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(packet)
}

// peerError is an ERROR packet received from the client; it ends the transfer.
type peerError struct {
	code    uint16
	message string
}

func (e *peerError) Error() string {
	return fmt.Sprintf("tftp: client sent error %d: %q", e.code, e.message)
}

// parsePeerError decodes an ERROR packet, tolerating a missing terminator.
func parsePeerError(packet []byte) *peerError {
	e := &peerError{code: errCodeUndefined}
	if len(packet) >= 4 {
		e.code = binary.BigEndian.Uint16(packet[2:])
		msg := packet[4:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		e.message = string(msg)
	}
	return e
}

// SizeProbe reports whether the transfer was a size query: the client (UEFI
// firmware does this before every download) took the OACK with the file's
// tsize and ended the transfer with error 8 before any data. It is not a failure.
func (t Transfer) SizeProbe() bool {
	var pe *peerError
	return t.Bytes == 0 && errors.As(t.Err, &pe) && pe.code == errCodeOptionsDenied
}
