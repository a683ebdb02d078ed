//go:build linux

// Command storm is the load generator of bench/storm.sh: N simulated PXE
// machines that power on at once and do on the wire what BIOS firmware,
// lpxelinux and anaconda do, each with its own MAC and, once leased, its own
// address: DHCP (DISCOVER, OFFER, REQUEST, ACK with the PXE options), TFTP of
// the boot file, ldlinux.c32 and the machine's pxelinux config, HTTP of the
// kernel, initrd, kickstart, .treeinfo and stage2, then the kickstart's
// phone-homes (%pre, %post). It reports each machine's timeline and a
// summary line that storm.sh reads.
//
// Subcommands:
//
//	storm macs -n N                     the machines' MACs, one a line
//	storm machines -n N -distro D       a `kickstand apply` YAML registering them
//	storm classic -n N -server IP ...   per-MAC pxelinux configs and kickstarts for dnsmasq + nginx
//	storm run -n N -lower IF ...        the storm itself, from the client namespace
//
// The run subcommand expects one macvlan interface per machine, named
// PREFIX0 … PREFIX(N-1), each with its machine's MAC (storm.sh makes them):
// DHCP goes out on the lower interface with the machine's MAC as chaddr,
// and everything after the ACK leaves from the machine's own interface and
// address, so that the server sees N machines as on a real LAN.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "macs":
		err = macsCmd(os.Args[2:])
	case "machines":
		err = machinesCmd(os.Args[2:])
	case "classic":
		err = classicCmd(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "storm: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: storm macs|machines|classic|run [flags] (storm SUBCOMMAND -h for its flags)")
	os.Exit(2)
}
