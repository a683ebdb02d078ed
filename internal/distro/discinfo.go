package distro

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxDiscinfo bounds how much of a .discinfo is read; real ones are 4 lines.
const maxDiscinfo = 64 << 10

// Discinfo is a .discinfo file: the older, line-based description of a
// disc that Anaconda still writes next to .treeinfo.
type Discinfo struct {
	Timestamp string // line 1: build time in Unix seconds, e.g. "1716911843.418489"
	Release   string // line 2: "9.6", or a name and version ("Red Hat Enterprise Linux 6.5")
	Arch      string // line 3: e.g. "x86_64"
}

// ParseDiscinfo reads a .discinfo file; missing lines are left empty. A
// control character in the lines it reads is an error.
func ParseDiscinfo(r io.Reader) (Discinfo, error) {
	var lines [3]string
	n := 0
	sc := bufio.NewScanner(io.LimitReader(r, maxDiscinfo))
	for n < len(lines) && sc.Scan() {
		lines[n] = strings.TrimSpace(sc.Text())
		if err := checkText(n+1, lines[n]); err != nil {
			return Discinfo{}, fmt.Errorf("discinfo: %w", err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return Discinfo{}, err
	}
	if n == 0 {
		return Discinfo{}, errors.New("discinfo: empty file")
	}
	return Discinfo{Timestamp: lines[0], Release: lines[1], Arch: lines[2]}, nil
}

// Version is the release's last word when it starts with a digit, e.g.
// "6.5" of "Red Hat Enterprise Linux 6.5".
func (d Discinfo) Version() string {
	words := strings.Fields(d.Release)
	if len(words) == 0 {
		return ""
	}
	last := words[len(words)-1]
	if last[0] < '0' || last[0] > '9' {
		return ""
	}
	return last
}

// Family is the release without its version, e.g. "Red Hat Enterprise Linux".
func (d Discinfo) Family() string {
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(d.Release), d.Version()))
}
