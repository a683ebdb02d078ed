package store

import "testing"

func TestAdvance(t *testing.T) {
	tests := []struct {
		cur, step, want State
		changed         bool
	}{
		{StateNew, StateBooting, StateBooting, true},
		{StateBooting, StateBooting, StateBooting, false},
		{StateBooting, StateInstalling, StateInstalling, true},
		{StateNew, StateInstalling, StateInstalling, true},
		{StateInstalling, StateBooting, StateInstalling, false},
		{StateInstalling, StateInstalled, StateInstalled, true},
		{StateInstalling, StateFailed, StateFailed, true},
		{StateInstalled, StateBooting, StateInstalled, false},
		{StateInstalled, StateInstalling, StateInstalled, false},
		{StateInstalled, StateFailed, StateInstalled, false},
		{StateFailed, StateBooting, StateFailed, false}, // boots again: stays failed, gets the menu
		{StateFailed, StateInstalled, StateInstalled, true},
	}
	for _, tt := range tests {
		got, changed := Advance(tt.cur, tt.step)
		if got != tt.want || changed != tt.changed {
			t.Errorf("Advance(%s, %s) = %s, %v; want %s, %v", tt.cur, tt.step, got, changed, tt.want, tt.changed)
		}
	}
}

func TestParseMAC(t *testing.T) {
	for _, s := range []string{"52:54:00:12:34:56", "52-54-00-12-34-56", "5254.0012.3456", " 52:54:00:12:34:56 "} {
		if mac, err := ParseMAC(s); err != nil || mac.String() != "52:54:00:12:34:56" {
			t.Errorf("ParseMAC(%q) = %v, %v", s, mac, err)
		}
	}
	for _, s := range []string{"", "52:54:00:12:34", "zz:54:00:12:34:56", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"} {
		if _, err := ParseMAC(s); err == nil {
			t.Errorf("ParseMAC(%q) succeeded", s)
		}
	}
}
