package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/drsctl/drsctl/internal/config"
)

// TestReview_EverySettingIsSaid changes every attribute of a primary, a
// target, their backup folder, destination and schedules, one at a time
// (by reflection, so an attribute added to the configuration later is
// changed too), and asks the review to say so in words: a change the
// review does not name exits 0 under plan -detailed-exitcode -base-config
// whenever it plans no action right away (a new restore window, another
// target server, data_dir, a database taken off one target). Not
// changes: where a block is written (DeclRange), and names, which are
// additions and removals (TestReview_RenamesAndTheStateAreSaid).
func TestReview_EverySettingIsSaid(t *testing.T) {
	skip := map[string]bool{"Name": true, "DeclRange": true, "Range": true, "Primary": true}
	var walk func(path string, get func(*config.Config) reflect.Value)
	walk = func(path string, get func(*config.Config) reflect.Value) {
		v := get(testConfig())
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if skip[f.Name] || !f.IsExported() {
				continue
			}
			name := path + "." + f.Name
			field := func(c *config.Config) reflect.Value { return get(c).Field(i) }
			switch ft := f.Type; {
			case ft == reflect.TypeOf(config.Schedule{}) || ft == reflect.TypeOf(config.Destination{}):
				walk(name, field)
				continue
			case ft == reflect.TypeOf(&config.BackupFolder{}):
				walk(name, func(c *config.Config) reflect.Value { return field(c).Elem() })
				continue
			}
			base, cfg := testConfig(), testConfig()
			if !mutate(field(cfg)) {
				t.Errorf("%s (%s): the test cannot change this type of attribute; teach mutate", name, f.Type)
				continue
			}
			if got := settingChanges(base, cfg); len(got) == 0 {
				t.Errorf("%s changed: the review says nothing", name)
			} else {
				t.Logf("%s: %q", name, got)
			}
			if got := settingChanges(testConfig(), testConfig()); len(got) != 0 {
				t.Fatalf("the same configuration twice: %q", got)
			}
		}
	}
	walk("primary", func(c *config.Config) reflect.Value { return reflect.ValueOf(c.Primaries[0]).Elem() })
	for i, n := range []string{"standby target", "norecovery target", "copy-only target"} {
		walk(n, func(c *config.Config) reflect.Value { return reflect.ValueOf(c.Targets[i]).Elem() })
	}
}

// mutate changes v (an attribute) to another valid-looking value.
func mutate(v reflect.Value) bool {
	switch x := v.Addr().Interface().(type) {
	case *time.Duration:
		*x += time.Minute
	case **time.Duration:
		d := 42 * time.Minute
		if *x != nil {
			d += **x
		}
		*x = &d
	case *config.Secret:
		*x = config.NewSecret("mem://another-server", hcl.Range{})
	case *config.RestoreWindows:
		days := [7]bool{true, true, true, true, true, true, true}
		*x = append(*x, config.RestoreWindow{Days: days, From: 20 * 60, To: 21 * 60, Location: time.UTC, Zone: "UTC"})
	case *[]string:
		*x = append([]string{"Extra"}, *x...)
	default:
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 1)
		default:
			return false
		}
	}
	return true
}

// TestReview_RenamesAndTheStateAreSaid: a primary or target renamed is one
// removed and one added; a target moved to another primary, and the state
// moved elsewhere, are said.
func TestReview_RenamesAndTheStateAreSaid(t *testing.T) {
	for name, change := range map[string]func(c *config.Config){
		"primary renamed": func(c *config.Config) { c.Primaries[0].Name = "sales2" },
		"target renamed":  func(c *config.Config) { c.Targets[0].Name = "dr_north" },
		"target's primary": func(c *config.Config) {
			p := *c.Primaries[0]
			p.Name = "hr"
			c.Primaries = append(c.Primaries, &p)
			c.Targets[0].Primary = &p
		},
		"state moved": func(c *config.Config) { c.State.URL = "s3://bucket/drs" },
	} {
		cfg := testConfig()
		change(cfg)
		if got := settingChanges(testConfig(), cfg); len(got) == 0 {
			t.Errorf("%s: the review says nothing", name)
		} else {
			t.Logf("%s: %q", name, got)
		}
	}
}

// TestSettingsFingerprint: the same settings give the same fingerprint
// wherever they are written; any setting changed changes it; a secret is
// never part of it (a saved plan travels as a CI artifact).
func TestSettingsFingerprint(t *testing.T) {
	a, b := testConfig(), testConfig()
	a.Dir, b.Dir = "/checkout/pr", "/checkout/main"
	b.Primaries[0].DeclRange = hcl.Range{Filename: "/checkout/main/x.drs.hcl", Start: hcl.Pos{Line: 7}}
	if SettingsFingerprint(a) != SettingsFingerprint(b) {
		t.Fatal("the same settings in two checkouts differ")
	}
	b.Targets[1].Destination.URL = "file:///elsewhere"
	if SettingsFingerprint(a) == SettingsFingerprint(b) {
		t.Fatal("a destination moved: the same fingerprint")
	}
	var text strings.Builder
	c := testConfig()
	c.Primaries[0].Connection = config.NewSecret("sqlserver://drs:Hunter2@sql01", hcl.Range{})
	canon(&text, reflect.ValueOf(c))
	if strings.Contains(text.String(), "Hunter2") || strings.Contains(text.String(), "sql01") {
		t.Fatalf("the fingerprint's text holds the connection: %s", text.String())
	}
}
