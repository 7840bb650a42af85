package cli

import (
	"bytes"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// PrometheusMetrics is what status -format prometheus writes, exactly: every
// family written is listed (one added to writePrometheus without the list
// would escape the dashboard's check), every listed family is written, in
// the list's order, with its help, and each sample carries exactly the
// listed labels. The dashboard test in cmd/drsctl trusts this list.
func TestPrometheusMetrics_AreWhatTheExporterWrites(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	promoted := now.Add(-time.Hour)
	r := &statusReport{now: now,
		backups: []plan.BackupHealth{{Primary: "sales", Database: "Sales", Last: now.Add(-time.Minute), Age: time.Minute, AlertAfter: 45 * time.Minute}},
		targets: []targetRow{
			{TargetHealth: plan.TargetHealth{Target: "east", Primary: "sales", Database: "Sales", Kind: config.Standby, Last: now.Add(-time.Minute),
				LastDrill: &state.Drill{At: now.Add(-time.Hour), Duration: time.Minute, OK: true}},
				rpo: &plan.RPOStatus{Target: "east", Primary: "sales", Database: "Sales", Limit: time.Hour, Through: now.Add(-time.Minute), Lag: time.Minute}},
			{TargetHealth: plan.TargetHealth{Target: "vault", Primary: "sales", Database: "Sales", Kind: config.CopyOnly},
				rpo: &plan.RPOStatus{Target: "vault", Primary: "sales", Database: "Sales", Limit: time.Hour}},
			{TargetHealth: plan.TargetHealth{Target: "west", Primary: "sales", Database: "Sales", Kind: config.Standby, PromotedAt: &promoted}},
		},
	}
	var out bytes.Buffer
	writePrometheus(&out, r)
	fams := parseExposition(t, out.String())

	var written []string
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) gauge$`).FindAllStringSubmatch(out.String(), -1) {
		written = append(written, m[1])
	}
	var listed []string
	for _, m := range PrometheusMetrics() {
		listed = append(listed, m.Name)
		f := fams[m.Name]
		if f == nil {
			continue // reported below
		}
		if f.GetHelp() != m.Help {
			t.Errorf("%s: help %q, the list says %q", m.Name, f.GetHelp(), m.Help)
		}
		if len(f.GetMetric()) == 0 {
			t.Errorf("%s: no sample from a report that has every kind of row", m.Name)
		}
		for _, s := range f.GetMetric() {
			var names []string
			for _, l := range s.GetLabel() {
				names = append(names, l.GetName())
			}
			if !slices.Equal(names, m.Labels) {
				t.Errorf("%s: a sample has labels %q, the list says %q", m.Name, names, m.Labels)
			}
		}
	}
	if !slices.Equal(written, listed) {
		t.Errorf("status -format prometheus writes\n  %q\nPrometheusMetrics lists\n  %q", written, listed)
	}

	// A caller cannot change what the exporter writes.
	PrometheusMetrics()[0].Labels[0] = "changed"
	if prometheusMetrics[0].Labels[0] == "changed" {
		t.Error("PrometheusMetrics returns the exporter's own label slice")
	}
}
