package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// parseExposition parses text with Prometheus's own parser, with the
// classic (strict) metric name rules.
func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, text)
	}
	return fams
}

// The whole output of status -format prometheus parses as the text
// exposition format, every family is a gauge with its help, and label
// values survive names holding ", \ and a newline (which configuration
// refuses today, but the ledger's names are not the exposition's business).
func TestPrometheus_ParsesWithHostileNames(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hostile := "Sa\"les\\x\ny"
	okAt := now.Add(-26 * time.Hour)
	promoted := now.Add(-time.Hour)
	r := &statusReport{now: now,
		backups: []plan.BackupHealth{
			{Primary: "sales", Database: hostile, Last: now.Add(-50 * time.Minute), Artifact: "L.trn", Age: 50 * time.Minute, AlertAfter: 45 * time.Minute, Alert: true},
			{Primary: "sales", Database: "Empty", AlertAfter: 45 * time.Minute, Alert: true},
		},
		targets: []targetRow{
			{TargetHealth: plan.TargetHealth{Target: "east", Primary: "sales", Database: hostile, Kind: config.Standby,
				Last: now.Add(-2 * time.Hour), Waiting: now.Add(-90 * time.Minute), Overdue: 90 * time.Minute, AlertAfter: 45 * time.Minute, Alert: true,
				LastDrill: &state.Drill{At: now.Add(-2 * time.Hour), Duration: 90 * time.Second, OK: false, Error: "CHECKDB: 2 errors"}, DrillOKAt: &okAt,
				DrillAlertAfter: 24 * time.Hour, DrillAlert: true},
				rpo: &plan.RPOStatus{Target: "east", Primary: "sales", Database: hostile, Limit: 30 * time.Minute, Through: now.Add(-2 * time.Hour), Lag: 2 * time.Hour, Breach: true}},
			{TargetHealth: plan.TargetHealth{Target: "vault", Primary: "sales", Database: hostile, Kind: config.CopyOnly, AlertAfter: 45 * time.Minute},
				rpo: &plan.RPOStatus{Target: "vault", Primary: "sales", Database: hostile, Limit: 30 * time.Minute, Breach: true}},
			{TargetHealth: plan.TargetHealth{Target: "west", Primary: "sales", Database: hostile, Kind: config.Standby, PromotedAt: &promoted, PromotedHow: state.PromotePlanned}},
		},
	}
	var out bytes.Buffer
	writePrometheus(&out, r)
	fams := parseExposition(t, out.String())

	type key struct{ metric, target, database string }
	want := map[key]float64{
		{"drsctl_rpo_lag_seconds", "east", hostile}:                      7200,
		{"drsctl_rpo_lag_seconds", "vault", hostile}:                     -1,
		{"drsctl_rpo_limit_seconds", "east", hostile}:                    1800,
		{"drsctl_rpo_limit_seconds", "vault", hostile}:                   1800,
		{"drsctl_rpo_breach", "east", hostile}:                           1,
		{"drsctl_rpo_breach", "vault", hostile}:                          1,
		{"drsctl_promoted", "west", hostile}:                             1,
		{"drsctl_promoted", "east", hostile}:                             0,
		{"drsctl_promoted", "vault", hostile}:                            0,
		{"drsctl_log_backup_age_seconds", "", hostile}:                   3000,
		{"drsctl_log_backup_age_seconds", "", "Empty"}:                   -1,
		{"drsctl_log_backup_alert_after_seconds", "", hostile}:           2700,
		{"drsctl_log_backup_alert_after_seconds", "", "Empty"}:           2700,
		{"drsctl_log_backup_alert", "", hostile}:                         1,
		{"drsctl_log_backup_alert", "", "Empty"}:                         1,
		{"drsctl_restore_age_seconds", "east", hostile}:                  7200,
		{"drsctl_restore_age_seconds", "vault", hostile}:                 -1,
		{"drsctl_restore_overdue_seconds", "east", hostile}:              5400,
		{"drsctl_restore_overdue_seconds", "vault", hostile}:             0,
		{"drsctl_restore_alert_after_seconds", "east", hostile}:          2700,
		{"drsctl_restore_alert_after_seconds", "vault", hostile}:         2700,
		{"drsctl_restore_alert", "east", hostile}:                        1,
		{"drsctl_restore_alert", "vault", hostile}:                       0,
		{"drsctl_drill_last_timestamp_seconds", "east", hostile}:         float64(now.Add(-2 * time.Hour).Unix()),
		{"drsctl_drill_last_timestamp_seconds", "west", hostile}:         0,
		{"drsctl_drill_last_success_timestamp_seconds", "east", hostile}: float64(okAt.Unix()),
		{"drsctl_drill_last_success_timestamp_seconds", "west", hostile}: 0,
		{"drsctl_drill_last_ok", "east", hostile}:                        0,
		{"drsctl_drill_last_ok", "west", hostile}:                        0,
		{"drsctl_drill_last_duration_seconds", "east", hostile}:          90,
		{"drsctl_drill_last_duration_seconds", "west", hostile}:          0,
		{"drsctl_drill_alert", "east", hostile}:                          1,
		{"drsctl_drill_alert", "west", hostile}:                          0,
	}
	got := map[key]float64{}
	for name, f := range fams {
		if f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is a %s, want a gauge", name, f.GetType())
		}
		if !strings.HasPrefix(name, "drsctl_") || len(f.GetHelp()) < 10 {
			t.Errorf("%s: name or help %q", name, f.GetHelp())
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			_, isTarget := labels["target"]
			wantLabels := 2
			if isTarget {
				wantLabels = 3
			}
			if labels["primary"] != "sales" || len(labels) != wantLabels {
				t.Errorf("%s labels %v", name, labels)
			}
			k := key{name, labels["target"], labels["database"]}
			if _, dup := got[k]; dup {
				t.Errorf("%v twice", k)
			}
			got[k] = m.GetGauge().GetValue()
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s{target=%q,database=%q} = %v (present %v), want %v", k.metric, k.target, k.database, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected sample %s{target=%q,database=%q}", k.metric, k.target, k.database)
		}
	}
	if h := fams["drsctl_restore_alert"].GetHelp(); !strings.Contains(h, "waited longer than the threshold") {
		t.Errorf("drsctl_restore_alert help = %q", h)
	}
}

// The check above has teeth: the same parser refuses what a careless
// writer would produce.
func TestPrometheus_ParserRefusesMalformedText(t *testing.T) {
	for name, text := range map[string]string{
		"unescaped newline in a label": "# TYPE drsctl_x gauge\ndrsctl_x{database=\"a\nb\"} 1\n",
		"unescaped quote":              "# TYPE drsctl_x gauge\ndrsctl_x{database=\"a\"b\"} 1\n",
		"family split in two":          "# TYPE drsctl_x gauge\ndrsctl_x{a=\"1\"} 1\n# TYPE drsctl_y gauge\ndrsctl_y 1\n# TYPE drsctl_x gauge\ndrsctl_x{a=\"2\"} 1\n",
		"not a number":                 "# TYPE drsctl_x gauge\ndrsctl_x 1h\n",
	} {
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestStatus_Ago(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{90 * time.Minute: "1h30m ago", 47 * time.Hour: "47h ago", 73 * time.Hour: "3d ago"} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
	if got := ago(now, time.Time{}); got != "never" {
		t.Errorf("ago(zero) = %q", got)
	}
}
