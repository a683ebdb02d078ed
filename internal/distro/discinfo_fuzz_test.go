package distro

import (
	"strings"
	"testing"
)

// FuzzParseDiscinfo feeds arbitrary .discinfo files, which come off install
// media anyone can make, to ParseDiscinfo. What it accepts must be three
// trimmed single-line fields free of control characters, and Version and
// Family must split Release as documented.
func FuzzParseDiscinfo(f *testing.F) {
	for _, s := range []string{
		// The layouts of TestParseDiscinfo: Rocky 9 (4 lines) and RHEL 6.5
		// DVDs, and a two-line file.
		"1716911843.418489\n9.6\nx86_64\nALL\n",
		"1380159378.77\nRed Hat Enterprise Linux 6.5\nx86_64\n1\n",
		"1\nFedora\n",
		// CRLF line ends, surrounding blanks, no final newline.
		"1748000000.1\r\n  9.6  \r\naarch64",
		"\n\n\n",
		"1\nRelease 6.5\x1c%pre\nx86_64\n", // a control character hiding a line break
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDiscinfo(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, v := range []string{d.Timestamp, d.Release, d.Arch} {
			if v != strings.TrimSpace(v) || strings.IndexFunc(v, isControl) >= 0 {
				t.Fatalf("field %q of %+v is not a trimmed line without control characters", v, d)
			}
		}
		version, family := d.Version(), d.Family()
		if version != "" {
			if version[0] < '0' || version[0] > '9' || strings.ContainsFunc(version, isSpace) || !strings.HasSuffix(d.Release, version) {
				t.Fatalf("Version() = %q of release %q", version, d.Release)
			}
		}
		if family != strings.TrimSpace(family) || !strings.HasPrefix(d.Release, family) {
			t.Fatalf("Family() = %q of release %q", family, d.Release)
		}
		if version == "" && family != d.Release {
			t.Fatalf("Family() = %q of release %q without a version", family, d.Release)
		}
	})
}

func isSpace(r rune) bool { return strings.TrimSpace(string(r)) == "" }
