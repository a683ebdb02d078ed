//go:build linux

package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// pxelinuxConfigNames are the files pxelinux tries, in order, for a machine:
// its UUID, its MAC, its address in hex losing a digit at a time, then
// "default" (see pxelinux's documentation, "Configuration").
func pxelinuxConfigNames(guid [16]byte, mac net.HardwareAddr, ip netip.Addr) []string {
	names := []string{guidString(guid), dashedMAC(mac)}
	a := ip.As4()
	hex := fmt.Sprintf("%02X%02X%02X%02X", a[0], a[1], a[2], a[3])
	for i := len(hex); i > 0; i-- {
		names = append(names, hex[:i])
	}
	return append(names, "default")
}

// bootEntry is what the config's default label boots.
type bootEntry struct {
	kernel  string
	initrds []string
	args    []string // the APPEND line's words, without initrd=
}

// arg returns the value of the first of names given as NAME=VALUE.
func (e bootEntry) arg(names ...string) string {
	for _, name := range names {
		for _, a := range e.args {
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
	}
	return ""
}

// parsePXELinux finds the default label of a pxelinux config and what it
// boots. A config that boots from the local disk (LOCALBOOT), or only
// offers a menu of that, is an error: the machine would not install.
func parsePXELinux(text string) (bootEntry, error) {
	type label struct {
		entry     bootEntry
		localBoot bool
	}
	labels := map[string]*label{}
	var order []string
	var cur *label
	def := ""
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		key, rest := strings.ToUpper(fields[0]), fields[1:]
		value := strings.Join(rest, " ")
		switch key {
		case "DEFAULT":
			def = value
		case "LABEL":
			cur = &label{}
			labels[value] = cur
			order = append(order, value)
		case "KERNEL", "LINUX":
			if cur != nil && len(rest) > 0 {
				cur.entry.kernel = rest[0]
			}
		case "INITRD":
			if cur != nil && len(rest) > 0 {
				cur.entry.initrds = append(cur.entry.initrds, strings.Split(rest[0], ",")...)
			}
		case "APPEND":
			if cur == nil {
				continue
			}
			for _, a := range rest {
				if v, ok := strings.CutPrefix(a, "initrd="); ok {
					cur.entry.initrds = append(cur.entry.initrds, strings.Split(v, ",")...)
					continue
				}
				cur.entry.args = append(cur.entry.args, a)
			}
		case "LOCALBOOT":
			if cur != nil {
				cur.localBoot = true
			}
		}
	}
	l, ok := labels[def]
	if !ok && len(order) > 0 && def == "" {
		l, ok = labels[order[0]], true
	}
	switch {
	case !ok:
		return bootEntry{}, fmt.Errorf("pxelinux config: no label %q to boot", def)
	case l.localBoot:
		return bootEntry{}, fmt.Errorf("pxelinux config: default label %q boots from the local disk", def)
	case l.entry.kernel == "":
		return bootEntry{}, fmt.Errorf("pxelinux config: label %q has no kernel", def)
	}
	for i, initrd := range l.entry.initrds {
		// A comma separates initrds, so a comma in a URL comes escaped.
		l.entry.initrds[i] = strings.ReplaceAll(initrd, "%2C", ",")
	}
	return l.entry, nil
}
