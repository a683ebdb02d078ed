package kickstart

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func data(vars map[string]string) Data {
	return Data{MAC: "52:54:00:12:34:56", Hostname: "node1", Profile: "web", Distro: "rocky9",
		Family: "Rocky Linux", Version: "9.6", RepoURL: "http://10.0.0.1/distros/rocky9/",
		PhoneHomeURL: "http://10.0.0.1/phone-home/TOKEN", Vars: Resolve(DefaultVars, vars)}
}

func TestDefaultTemplateGolden(t *testing.T) {
	tests := map[string]map[string]string{
		"default":     nil,
		"rootpw-hash": {"rootpw_hash": "$6$salt$hash", "timezone": "Europe/Berlin", "disk": "vda"},
	}
	for name, vars := range tests {
		got, err := Render("default", DefaultTemplate, data(vars), nil)
		if err != nil {
			t.Fatal(err)
		}
		path := "testdata/" + name + ".ks"
		if *update {
			os.WriteFile(path, got, 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update creates it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs:\n%s", path, got)
		}
	}
}

func TestDefaultTemplateEssentials(t *testing.T) {
	got, err := Render("default", DefaultTemplate, data(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ks := string(got)
	for _, want := range []string{
		"url --url=http://10.0.0.1/distros/rocky9/\n",
		"rootpw --lock\n",
		"--hostname=node1",
		"-d state=installing http://10.0.0.1/phone-home/TOKEN",
		"-d state=installed http://10.0.0.1/phone-home/TOKEN",
		"-d state=failed",
		"\nreboot\n",
	} {
		if !strings.Contains(ks, want) {
			t.Errorf("default kickstart lacks %q", want)
		}
	}
	if strings.Contains(ks, "<no value>") {
		t.Error("default kickstart has an unfilled value")
	}
}

func TestResolvePrecedence(t *testing.T) {
	got := Resolve(map[string]string{"a": "server", "b": "server", "c": "server"},
		map[string]string{"b": "profile", "c": "profile"},
		map[string]string{"c": "machine"})
	if got["a"] != "server" || got["b"] != "profile" || got["c"] != "machine" {
		t.Fatalf("Resolve = %v", got)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := map[string]string{
		"missing var":   `lang {{ var "nope" }}`,
		"missing field": `{{ .Nope }}`,
		"bad syntax":    `{{ if }}`,
	}
	for name, text := range tests {
		if out, err := Render("t", text, data(nil), nil); err == nil {
			t.Errorf("%s: rendered %q without error", name, out)
		}
	}
	_, err := Render("t", `{{ var "nope" }}`, data(nil), nil)
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "--var nope=") {
		t.Errorf("missing-var error does not say what to do: %v", err)
	}
}

func TestParse(t *testing.T) {
	if err := Parse("ok", DefaultTemplate, nil); err != nil {
		t.Fatal(err)
	}
	if err := Parse("bad", "{{ end }}", nil); err == nil {
		t.Fatal("Parse accepted a broken template")
	}
}
