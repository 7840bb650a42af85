package config

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // as cmd/drsctl: zones must not depend on the machine's files
)

// windowConfig is a valid configuration whose target "reporting" has the
// given lines in its block (from line 19 on).
func windowConfig(rpo, targetLines string) string {
	return `backup_folder "local" {
  url = "file:///srv/drs/backups"
}

primary "shop" {
  engine        = "sqlserver"
  connection    = "sqlserver://primary"
  databases     = ["Shop"]
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "` + rpo + `"
}

target "reporting" {
  primary      = primary.shop
  connection   = "sqlserver://reporting"
  destination { url = "file:///srv/drs/reporting" }
` + targetLines + `
}
`
}

func loadWindow(t *testing.T, rpo, lines string) (*Config, string) {
	t.Helper()
	dir := writeConfig(t, map[string]string{"w.drs.hcl": windowConfig(rpo, lines)})
	cfg, diags := Load(dir, testOptions)
	return cfg, diagsText(diags)
}

func mustLoadWindow(t *testing.T, rpo, lines string) *Target {
	t.Helper()
	dir := writeConfig(t, map[string]string{"w.drs.hcl": windowConfig(rpo, lines)})
	cfg, diags := Load(dir, testOptions)
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:%s", diagsText(diags))
	}
	return cfg.TargetByName("reporting")
}

func TestRestoreWindow_Decode(t *testing.T) {
	tg := mustLoadWindow(t, "7d", `
  restore_window {
    days      = ["mon-fri"]
    from      = "19:00"
    to        = "07:00"
    time_zone = "Europe/Berlin"
  }
  restore_window {
    days = ["sat", "Sunday"]
    from = "6:30"
    to   = "23:59"
  }`)
	ws := tg.RestoreWindows
	if len(ws) != 2 {
		t.Fatalf("got %d windows, want 2", len(ws))
	}
	if got := ws.String(); got != "mon-fri 19:00-07:00 Europe/Berlin, sat,sun 06:30-23:59 UTC" {
		t.Errorf("windows read back as %q", got)
	}
	if ws[0].Location.String() != "Europe/Berlin" || ws[1].Location != time.UTC {
		t.Errorf("zones %v and %v, want Europe/Berlin and UTC (the default)", ws[0].Location, ws[1].Location)
	}

	// Omitted days mean every day; a range may wrap across the weekend.
	tg = mustLoadWindow(t, "7d", `
  restore_window {
    from = "22:00"
    to   = "02:00"
  }
  restore_window {
    days = ["fri-mon"]
    from = "10:00"
    to   = "12:00"
  }`)
	if got := tg.RestoreWindows.String(); got != "every day 22:00-02:00 UTC, mon,fri-sun 10:00-12:00 UTC" {
		t.Errorf("windows read back as %q", got)
	}
}

func TestRestoreWindow_Invalid(t *testing.T) {
	tests := []struct {
		name, lines  string
		summary      string
		line, column int
		detail       string
	}{
		{"hour out of range", `  restore_window {
    from = "25:00"
    to   = "07:00"
  }`, "Invalid time of day", 20, 12, "hours go from 00 to 23"},
		{"not a 24-hour time", `  restore_window {
    from = "7pm"
    to   = "07:00"
  }`, "Invalid time of day", 20, 12, `"7pm" is not a time of day`},
		{"from equals to", `  restore_window {
    from = "07:00"
    to   = "07:00"
  }`, "Empty restore window", 21, 12, "remove the restore_window block"},
		{"unknown zone", `  restore_window {
    from      = "19:00"
    to        = "07:00"
    time_zone = "Europe/Berlín"
  }`, "Unknown time zone", 22, 17, `"Europe/Berlín" is not in the IANA time zone database`},
		{"machine's local zone", `  restore_window {
    from      = "19:00"
    to        = "07:00"
    time_zone = "Local"
  }`, "Invalid time zone", 22, 17, "not the machine's local zone"},
		{"empty days", `  restore_window {
    days = []
    from = "19:00"
    to   = "07:00"
  }`, "No days", 20, 12, "omit it for every day"},
		{"unknown day", `  restore_window {
    days = ["mon", "fryday"]
    from = "19:00"
    to   = "07:00"
  }`, "Invalid day", 20, 20, `Did you mean "friday"?`},
		{"missing to", `  restore_window {
    from = "19:00"
  }`, "Missing required argument", 19, 3, `"to"`},
		{"misspelt argument", `  restore_window {
    from     = "19:00"
    to       = "07:00"
    timezone = "UTC"
  }`, "Unsupported argument", 22, 5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"w.drs.hcl": windowConfig("7d", tt.lines)})
			_, diags := Load(dir, testOptions)
			errs := errorsOnly(diags)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want exactly 1:%s", len(errs), diagsText(diags))
			}
			d := errs[0]
			if d.Summary != tt.summary || d.Subject == nil || d.Subject.Start.Line != tt.line || d.Subject.Start.Column != tt.column ||
				!strings.Contains(d.Detail, tt.detail) || !strings.HasSuffix(d.Subject.Filename, "w.drs.hcl") {
				t.Errorf("got%s\nwant %s at w.drs.hcl:%d:%d with %q", diagsText(errs), tt.summary, tt.line, tt.column, tt.detail)
			}
		})
	}
}

// A window in Europe/Berlin is read in wall-clock time: on the nights the
// clocks change (last Sunday of March and of October) it still opens at
// 19:00 and closes at 07:00 local time, so its real length changes.
func TestRestoreWindow_DaylightSaving(t *testing.T) {
	tg := mustLoadWindow(t, "7d", `
  restore_window {
    days      = ["sat", "sun"]
    from      = "19:00"
    to        = "07:00"
    time_zone = "Europe/Berlin"
  }`)
	ws := tg.RestoreWindows
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
	for _, tc := range []struct {
		name     string
		sat, sun int // the Saturday before the change, and the Sunday of it
		month    time.Month
		nightLen time.Duration // Saturday 19:00 to Sunday 07:00, in real time
	}{
		{"spring forward", 28, 29, time.March, 11 * time.Hour},
		{"fall back", 24, 25, time.October, 13 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := func(tm time.Time) bool { return ws.Open(tm) }
			for _, c := range []struct {
				tm   time.Time
				want bool
			}{
				{at(2026, tc.month, tc.sat, 18, 59), false},
				{at(2026, tc.month, tc.sat, 19, 0), true},
				{at(2026, tc.month, tc.sun, 6, 59), true},
				{at(2026, tc.month, tc.sun, 7, 0), false},
				{at(2026, tc.month, tc.sun, 18, 59), false},
				{at(2026, tc.month, tc.sun, 19, 0), true}, // the Sunday night, after the change
				{at(2026, tc.month, tc.sun+1, 6, 59), true},
				{at(2026, tc.month, tc.sun+1, 7, 0), false},
			} {
				if got := open(c.tm); got != c.want {
					t.Errorf("Open(%s) = %v, want %v", c.tm.Format("Mon 2006-01-02 15:04 MST"), got, c.want)
				}
			}
			// Saturday morning: the next opening is 19:00 local, whatever
			// the offset then.
			if got, want := ws.NextOpen(at(2026, tc.month, tc.sat, 8, 0)), at(2026, tc.month, tc.sat, 19, 0); !got.Equal(want) {
				t.Errorf("NextOpen = %s, want %s", got, want)
			}
			if got, want := ws.NextOpen(at(2026, tc.month, tc.sun, 7, 0)), at(2026, tc.month, tc.sun, 19, 0); !got.Equal(want) || got.In(berlin).Hour() != 19 {
				t.Errorf("NextOpen on the day of the change = %s, want %s", got.In(berlin), want)
			}
			night := ws.spans(at(2026, tc.month, tc.sat, 12, 0), at(2026, tc.month, tc.sun, 12, 0))
			if len(night) != 1 || night[0].End.Sub(night[0].Start) != tc.nightLen {
				t.Errorf("the night of the change is %v, want one window of %s", night, tc.nightLen)
			}
		})
	}
}

func TestRestoreWindow_OpenAndNext(t *testing.T) {
	tg := mustLoadWindow(t, "7d", `
  restore_window {
    days = ["mon-fri"]
    from = "19:00"
    to   = "07:00"
  }`)
	ws := tg.RestoreWindows
	utc := func(d, h, m int) time.Time { return time.Date(2026, time.March, d, h, m, 0, 0, time.UTC) } // 2 March 2026 is a Monday
	for _, c := range []struct {
		now      time.Time
		open     bool
		nextOpen time.Time
	}{
		{utc(2, 6, 0), false, utc(2, 19, 0)},  // Monday morning: Sunday night is not in the window
		{utc(2, 19, 0), true, utc(2, 19, 0)},  // opens
		{utc(3, 6, 59), true, utc(3, 6, 59)},  // Monday's window crosses midnight
		{utc(3, 7, 0), false, utc(3, 19, 0)},  // closed at 07:00
		{utc(7, 6, 0), true, utc(7, 6, 0)},    // Friday's night ends Saturday morning
		{utc(7, 7, 0), false, utc(9, 19, 0)},  // the weekend: next Monday evening
		{utc(8, 23, 0), false, utc(9, 19, 0)}, // Sunday night is closed
	} {
		if got := ws.Open(c.now); got != c.open {
			t.Errorf("Open(%s) = %v, want %v", c.now.Format(time.RFC1123), got, c.open)
		}
		if got := ws.NextOpen(c.now); !got.Equal(c.nextOpen) {
			t.Errorf("NextOpen(%s) = %s, want %s", c.now.Format(time.RFC1123), got.Format(time.RFC1123), c.nextOpen.Format(time.RFC1123))
		}
	}
	if g := ws.LongestClosed(windowReferenceStart); g.End.Sub(g.Start) != 60*time.Hour || g.Start.Weekday() != time.Saturday {
		t.Errorf("longest closed stretch %s from %s, want 60h from a Saturday 07:00", g.End.Sub(g.Start), g.Start)
	}
	var none RestoreWindows
	if !none.Open(utc(2, 12, 0)) {
		t.Error("no window must mean restores at any time")
	}
}

func TestRestoreWindow_RPOUnreachable(t *testing.T) {
	window := `
  restore_window {
    days      = ["mon-fri"]
    from      = "19:00"
    to        = "07:00"
    time_zone = "Europe/Berlin"
  }`
	// The weekend (Saturday 07:00 to Monday 19:00) is 60h on the wall and
	// 61h across the night the clocks go back.
	cfg, text := loadWindow(t, "24h", window)
	if cfg == nil || !strings.Contains(text, "Restore window makes the RPO unreachable") {
		t.Fatalf("want the RPO warning, got:%s", text)
	}
	for _, want := range []string{
		"w.drs.hcl:20:3: ", `Target "reporting"`, "longest closed stretch is 2d13h, from Sat 07:00 to Mon 19:00",
		"log backups every 15m", "its lag reaches 2d13h15m", `primary "shop"'s rpo = "1d"`, "Raise the rpo to at least 2d13h15m, or widen the window",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("warning lacks %q:%s", want, text)
		}
	}
	// restore_delay adds up.
	_, text = loadWindow(t, "2d13h20m", window+`
  restore_delay = "10m"`)
	if !strings.Contains(text, `and restore_delay = "10m" its lag reaches 2d13h25m`) {
		t.Errorf("want the delay counted:%s", text)
	}
	// An RPO that covers the weekend: nothing to say.
	if _, text = loadWindow(t, "2d13h15m", window); text != "" {
		t.Errorf("unexpected diagnostics:%s", text)
	}
	// A copy_only target ignores its window, and says so.
	_, text = loadWindow(t, "1h", `kind = "copy_only"`+window)
	if !strings.Contains(text, "restore_window has no effect on a copy_only target") || strings.Contains(text, "RPO unreachable") {
		t.Errorf("copy_only: got%s", text)
	}
}
