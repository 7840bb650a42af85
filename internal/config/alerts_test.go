package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad_AlertThresholds(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	tests := map[string]struct {
		log, target      string
		logAlert         time.Duration
		restore, drill   time.Duration
		restoreAttrIsSet *time.Duration
	}{
		"defaults: three log intervals, drills not watched": {log: "", target: "", logAlert: 45 * time.Minute, restore: 45 * time.Minute},
		"set":         {log: `alert_after = "1h"`, target: "restore_alert_after = \"2h\"\n drill_alert_after = \"7d\"", logAlert: time.Hour, restore: 2 * time.Hour, drill: 7 * 24 * time.Hour, restoreAttrIsSet: dur(2 * time.Hour)},
		"zero is off": {log: `alert_after = "0s"`, target: `restore_alert_after = "0s"`, restoreAttrIsSet: dur(0)},
		// With restore_delay the wait is counted from when a backup could
		// first be restored, so the default does not grow with the delay.
		"delay keeps the default": {target: `restore_delay = "10m"`, logAlert: 45 * time.Minute, restore: 45 * time.Minute},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(minimalConfig(`env("P_DSN")`, tt.target, ""), `log_backup { every = "15m" }`, "log_backup {\n every = \"15m\"\n "+tt.log+"\n}", 1)
			cfg, diags := Load(writeConfig(t, map[string]string{"c.drs.hcl": src}), testOptions)
			if len(diags) != 0 {
				t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
			}
			tg := cfg.Targets[0]
			if got := tg.Primary.LogBackupAlert(); got != tt.logAlert {
				t.Errorf("LogBackupAlert = %s, want %s", got, tt.logAlert)
			}
			if got := tg.RestoreAlert(); got != tt.restore {
				t.Errorf("RestoreAlert = %s, want %s", got, tt.restore)
			}
			if tg.DrillAlertAfter != tt.drill {
				t.Errorf("DrillAlertAfter = %s, want %s", tg.DrillAlertAfter, tt.drill)
			}
			if (tg.RestoreAlertAfter == nil) != (tt.restoreAttrIsSet == nil) || tg.RestoreAlertAfter != nil && *tg.RestoreAlertAfter != *tt.restoreAttrIsSet {
				t.Errorf("RestoreAlertAfter = %v, want %v", tg.RestoreAlertAfter, tt.restoreAttrIsSet)
			}
		})
	}
}

// Each mistake is reported where it is written (file:line:column), and
// alert_after's own mistakes show even when every is wrong too.
func TestLoad_AlertThresholdProblems(t *testing.T) {
	tests := map[string]struct {
		log, target, kind string
		want              []wantDiag
	}{
		"log alert shorter than the interval": {log: `alert_after = "10m"`,
			want: []wantDiag{{"Alert threshold shorter than the interval", 13, 16, `backups every 15m`}}},
		"negative restore alert": {target: `restore_alert_after = "-5m"`,
			want: []wantDiag{{"Negative alert threshold", 20, 25, `"restore_alert_after"`}}},
		"bad drill duration": {target: `drill_alert_after = "weekly"`,
			want: []wantDiag{{"Invalid duration", 20, 23, `"drill_alert_after"`}}},
		"drill alert on copy_only": {target: "kind = \"copy_only\"\n  drill_alert_after = \"7d\"",
			want: []wantDiag{{"drill_alert_after on a copy_only target", 21, 3, "no server"}}},
		"alert_after on full_backup": {kind: "full",
			want: []wantDiag{{"Unsupported argument", 12, 2, `"alert_after"`}}},
		"both wrong at once": {log: "alert_after = \"-1m\"", kind: "bad every",
			want: []wantDiag{{"Invalid duration", 12, 10, `"often"`}, {"Negative alert threshold", 13, 16, ""}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			src := minimalConfig(`env("P_DSN")`, tt.target, "")
			every := `"15m"`
			if tt.kind == "bad every" {
				every = `"often"`
			}
			src = strings.Replace(src, `log_backup { every = "15m" }`, "log_backup {\n every = "+every+"\n "+tt.log+"\n}", 1)
			if tt.kind == "full" {
				src = strings.Replace(src, `full_backup { every = "24h" }`, "full_backup {\n every = \"24h\"\n alert_after = \"1h\"\n}", 1)
			}
			dir := writeConfig(t, map[string]string{"c.drs.hcl": src})
			_, diags := Load(dir, testOptions)
			errs := errorsOnly(diags)
			if len(errs) != len(tt.want) {
				t.Errorf("got %d errors, want %d:%s", len(errs), len(tt.want), diagsText(diags))
			}
			for _, w := range tt.want {
				found := false
				for _, d := range errs {
					if d.Summary == w.summary && d.Subject != nil && strings.HasSuffix(d.Subject.Filename, "c.drs.hcl") &&
						d.Subject.Start.Line == w.line && d.Subject.Start.Column == w.column && strings.Contains(d.Detail, w.detail) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error %q at c.drs.hcl:%d:%d with %q; got:%s", w.summary, w.line, w.column, w.detail, diagsText(diags))
				}
			}
		})
	}
}
