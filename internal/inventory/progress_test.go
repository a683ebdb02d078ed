package inventory

import (
	"bytes"
	"testing"
)

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "checking machines", 3)
	p.every = 0
	for i := range 3 {
		p.at(i + 1)
	}
	p.done()
	if got, want := out.String(), "\rchecking machines: 1 of 3\rchecking machines: 2 of 3\rchecking machines: 3 of 3\n"; got != want {
		t.Errorf("progress wrote %q, want %q", got, want)
	}
	// Work shorter than the interval draws nothing, not even the newline.
	out.Reset()
	p = newProgress(&out, "writing", 1000)
	for i := range 1000 {
		p.at(i + 1)
	}
	p.done()
	if out.Len() != 0 {
		t.Errorf("short work drew %q", out.String())
	}
	newProgress(nil, "nowhere", 1).at(1) // nil writes nothing
}
