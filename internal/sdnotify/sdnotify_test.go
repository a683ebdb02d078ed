package sdnotify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickstand/internal/sdnotify/sdnotifytest"
)

func TestNotify(t *testing.T) {
	for name, socket := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": fmt.Sprintf("@kickstand-sdnotify-test-%d", os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			systemd := sdnotifytest.Listen(t, socket)
			t.Setenv("NOTIFY_SOCKET", socket)
			n := FromEnv()
			if err := n.Notify("READY=1\nSTATUS=serving"); err != nil {
				t.Fatal(err)
			}
			if err := n.Notify("STOPPING=1"); err != nil {
				t.Fatal(err)
			}
			if got := systemd.Next(t, 5*time.Second); got != "READY=1\nSTATUS=serving" {
				t.Errorf("first datagram %q", got)
			}
			if got := systemd.Next(t, 5*time.Second); got != "STOPPING=1" {
				t.Errorf("second datagram %q", got)
			}
		})
	}
}

func TestNotifyOutsideSystemd(t *testing.T) {
	if err := (Notifier{}).Notify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, want nothing sent and no error", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for socket, want := range map[string]string{
		"vsock:2:1234": "want a path or an @abstract name",
		filepath.Join(t.TempDir(), "nobody-listens"): "no such file",
	} {
		err := Notifier{Socket: socket}.Notify("READY=1")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NOTIFY_SOCKET %s: %v, want an error saying %q", socket, err, want)
		}
	}
}
