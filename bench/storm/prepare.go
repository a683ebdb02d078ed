//go:build linux

package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// maxMachines bounds N: MACs and GUIDs are numbered in 16 bits, and the
// kernel's neighbour tables (1024 entries at most by default) must hold
// every machine.
const maxMachines = 1000

// machineMAC is machine i's MAC: 52:54:00:5b:HH:LL (QEMU's range), i+1 in
// the last two bytes.
func machineMAC(i int) net.HardwareAddr {
	v := i + 1
	return net.HardwareAddr{0x52, 0x54, 0x00, 0x5b, byte(v >> 8), byte(v)}
}

// machineGUID is machine i's SMBIOS UUID, sent in DHCP option 97.
func machineGUID(i int) [16]byte {
	v := i + 1
	return [16]byte{0x5b, 0x5b, 0x5b, 0x5b, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, byte(v >> 8), byte(v)}
}

// guidString is the UUID in the form pxelinux looks up its config under.
func guidString(g [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

// dashedMAC is the MAC as boot loaders name files: 01-aa-bb-cc-dd-ee-ff.
func dashedMAC(mac net.HardwareAddr) string {
	return "01-" + strings.ReplaceAll(mac.String(), ":", "-")
}

func countFlag(fs *flag.FlagSet) *int {
	return fs.Int("n", 0, fmt.Sprintf("number of machines (1-%d)", maxMachines))
}

func checkCount(n int) error {
	if n < 1 || n > maxMachines {
		return fmt.Errorf("-n %d: want 1-%d machines", n, maxMachines)
	}
	return nil
}

func macsCmd(args []string) error {
	fs := flag.NewFlagSet("macs", flag.ExitOnError)
	n := countFlag(fs)
	_ = fs.Parse(args)
	if err := checkCount(*n); err != nil {
		return err
	}
	for i := range *n {
		fmt.Println(machineMAC(i))
	}
	return nil
}

// machinesCmd prints a kickstand apply file: one profile on the distro and
// every machine on it.
func machinesCmd(args []string) error {
	fs := flag.NewFlagSet("machines", flag.ExitOnError)
	n := countFlag(fs)
	distro := fs.String("distro", "storm", "distro the profile installs")
	profile := fs.String("profile", "storm", "profile name")
	_ = fs.Parse(args)
	if err := checkCount(*n); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "profiles:\n  - name: %s\n    distro: %s\nmachines:\n", *profile, *distro)
	for i := range *n {
		fmt.Fprintf(&b, "  - mac: %q\n    profile: %s\n    hostname: storm-%04d\n    uuid: %s\n",
			machineMAC(i).String(), *profile, i+1, guidString(machineGUID(i)))
	}
	_, err := os.Stdout.WriteString(b.String())
	return err
}

// classicCmd writes what an administrator of the classic stack writes by
// hand: a pxelinux config per MAC under TFTP-ROOT/pxelinux.cfg/ and a
// kickstart per MAC under HTTP-ROOT/ks/, the install tree being served by
// nginx at /tree/ and the phone-home at /phone-home/.
func classicCmd(args []string) error {
	fs := flag.NewFlagSet("classic", flag.ExitOnError)
	n := countFlag(fs)
	server := fs.String("server", "", "the server's address in URLs")
	tftpRoot := fs.String("tftp-root", "", "dnsmasq's TFTP root")
	httpRoot := fs.String("http-root", "", "nginx's root")
	_ = fs.Parse(args)
	if err := checkCount(*n); err != nil {
		return err
	}
	if *server == "" || *tftpRoot == "" || *httpRoot == "" {
		return fmt.Errorf("classic needs -server, -tftp-root and -http-root")
	}
	base := "http://" + *server
	for _, dir := range []string{filepath.Join(*tftpRoot, "pxelinux.cfg"), filepath.Join(*httpRoot, "ks")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for i := range *n {
		name := dashedMAC(machineMAC(i))
		ks := base + "/ks/" + name + ".ks"
		cfg := "DEFAULT install\nPROMPT 0\nTIMEOUT 0\n\nLABEL install\n" +
			"  KERNEL " + base + "/tree/images/pxeboot/vmlinuz\n" +
			"  INITRD " + base + "/tree/images/pxeboot/initrd.img\n" +
			"  APPEND inst.repo=" + base + "/tree/ inst.ks=" + ks + "\n  IPAPPEND 2\n"
		if err := os.WriteFile(filepath.Join(*tftpRoot, "pxelinux.cfg", name), []byte(cfg), 0o644); err != nil {
			return err
		}
		phone := base + "/phone-home/" + name
		kickstart := "# kickstart of storm-" + fmt.Sprintf("%04d", i+1) + "\ntext\nurl --url=" + base + "/tree/\n" +
			"lang en_US.UTF-8\nkeyboard --vckeymap=us\ntimezone UTC --utc\nnetwork --bootproto=dhcp --device=link --activate\n" +
			"rootpw --lock\nzerombr\nclearpart --all --initlabel\nautopart\nreboot\n\n" +
			"%packages\n@^minimal-environment\ncurl\n%end\n\n" +
			"%pre --log=/tmp/pre.log\ncurl -fsS --retry 3 -d state=installing " + phone + " || true\n%end\n\n" +
			"%post --log=/root/post.log\ncurl -fsS --retry 3 -d state=installed " + phone + "\n%end\n\n" +
			"%onerror\ncurl -fsS --retry 3 -d state=failed " + phone + "\n%end\n"
		if err := os.WriteFile(filepath.Join(*httpRoot, "ks", name+".ks"), []byte(kickstart), 0o644); err != nil {
			return err
		}
	}
	return nil
}
