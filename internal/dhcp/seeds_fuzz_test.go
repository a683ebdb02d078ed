package dhcp

import (
	"bufio"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// capturedPacket is a DHCP request as a real client sent it.
type capturedPacket struct {
	port   int // the server port it went to: 67 or 4011
	packet []byte
}

// dhcpCaptures reads testdata/capture/dhcp.txt: the requests real firmware
// sent to kickstand in the end-to-end tests (the file says which), one per
// line as "PORT HEX # what".
func dhcpCaptures(f *testing.F) []capturedPacket {
	file, err := os.Open("testdata/capture/dhcp.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	var out []capturedPacket
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		port, err := strconv.Atoi(fields[0])
		if err != nil || len(fields) != 2 {
			f.Fatalf("testdata/capture/dhcp.txt: bad line %q", sc.Text())
		}
		b, err := hex.DecodeString(fields[1])
		if err != nil {
			f.Fatalf("testdata/capture/dhcp.txt: %v", err)
		}
		out = append(out, capturedPacket{port, b})
	}
	if err := sc.Err(); err != nil {
		f.Fatal(err)
	}
	return out
}

// addDHCPSeeds adds the captured requests and, for what the end-to-end
// tests do not send, requests built after RFC 2131, PXE 2.1 and the UEFI
// HTTP Boot vendor class: PXE and iPXE DISCOVERs, a REQUEST to us, a
// renewal, a relayed REQUEST with option 82, DECLINE, RELEASE, INFORM, an
// HTTPClient DISCOVER, and two broken packets.
func addDHCPSeeds(f *testing.F) {
	for _, c := range dhcpCaptures(f) {
		f.Add(c.packet)
	}
	for _, p := range []*dhcpv4.DHCPv4{
		newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)),
		newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7), withRequested("192.168.10.105"),
			withOpt(dhcpv4.OptionUserClassInformation, []byte("iPXE")), withOpt(dhcpv4.OptionEtherboot, []byte{1})),
		newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withServerID(serverIP.String()), withRequested("192.168.10.100")),
		newPacket(dhcpv4.MessageTypeRequest, macB, withCiaddr("192.168.10.101")),
		newPacket(dhcpv4.MessageTypeRequest, macB, withGiaddr("192.168.10.254"), withRequested("192.168.10.20"),
			withOpt(dhcpv4.OptionRelayAgentInformation, []byte{1, 2, 'a', 'b'})),
		newPacket(dhcpv4.MessageTypeDecline, macA, withRequested("192.168.10.100")),
		newPacket(dhcpv4.MessageTypeRelease, macA, withCiaddr("192.168.10.100")),
		newPacket(dhcpv4.MessageTypeInform, macA, pxe(0), withCiaddr("192.168.10.7")),
		newPacket(dhcpv4.MessageTypeDiscover, macA,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001"))),
	} {
		f.Add(p.ToBytes())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 6, 0})
}
