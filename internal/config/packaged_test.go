package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// The packages' /etc/kickstand/kickstand.yaml loads, and it shows every
// setting with its real default: uncommenting all its "#key: value" lines
// changes nothing.
func TestPackagedConfigFile(t *testing.T) {
	t.Setenv("KICKSTAND_DATA_DIR", "")
	const shipped = "../../packaging/kickstand.yaml"
	c := Default()
	if err := c.Load(shipped); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", shipped, err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("%s as shipped sets something: %+v", shipped, c)
	}

	text, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`(?m)^#([a-z-]+): `)
	keys := map[string]bool{}
	for _, m := range setting.FindAllStringSubmatch(string(text), -1) {
		keys[m[1]] = true
	}
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("yaml"); !keys[key] {
			t.Errorf("%s does not show the setting %s", shipped, key)
		}
	}
	uncommented := filepath.Join(t.TempDir(), "kickstand.yaml")
	if err := os.WriteFile(uncommented, setting.ReplaceAll(text, []byte("$1: ")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Start from zero values, so that every default has to come from the file.
	var all Config
	if err := all.Load(uncommented); err != nil {
		t.Fatalf("%s uncommented: %v", shipped, err)
	}
	if len(all.DHCPDNS) == 0 && len(all.ISOs) == 0 && len(all.DHCPSubnets) == 0 {
		all.DHCPDNS, all.ISOs, all.DHCPSubnets = nil, nil, nil // "[]", as the defaults' nil is written
	}
	if !reflect.DeepEqual(all, Default()) {
		t.Errorf("%s uncommented:\n%+v\nthe defaults:\n%+v", shipped, all, Default())
	}
}
