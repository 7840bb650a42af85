package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// The WAL a PostgreSQL primary keeps for drsctl is said: unbounded (a
// stalled drsctl would fill the primary's disk), and about to be dropped
// (the chain is about to break). Within a bound, nothing is said.
func TestMake_RetentionWarnings(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	for _, c := range []struct {
		name      string
		retention *engine.Retention
		want      string
		lasting   string
	}{
		{"none kept", nil, "", ""},
		{"bounded", &engine.Retention{Bytes: 32 << 20, SafeBytes: 1 << 30, Status: "reserved"}, "", ""},
		{"unbounded", &engine.Retention{Bytes: 1_200_000_000, SafeBytes: -1, Status: "extended"},
			`primary "sales" keeps WAL for drsctl without a bound (1.1 GiB held now)`, "retention-unbounded:sales"},
		{"about to be dropped", &engine.Retention{Bytes: 60 << 30, SafeBytes: 0, Status: "unreserved"},
			`primary "sales" is about to drop WAL drsctl has not backed up (60.0 GiB held)`, "retention-unreserved:sales"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs := observed(st, func(o *Observed) { o.Primaries["sales"].Databases["Sales"].Retained = c.retention })
			p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
			var got *Problem
			for i, pr := range p.Problems {
				if strings.Contains(pr.Summary, "WAL") {
					got = &p.Problems[i]
				}
			}
			switch {
			case c.want == "" && got != nil:
				t.Errorf("unexpected problem %q", got.Summary)
			case c.want != "" && got == nil:
				t.Errorf("no problem; want %q", c.want)
			case c.want != "" && (got.Summary != c.want || got.Severity != Warning || got.Lasting != c.lasting):
				t.Errorf("problem = %q (%s, lasting %q); want %q (warning, lasting %q)", got.Summary, got.Severity, got.Lasting, c.want, c.lasting)
			}
		})
	}
}

// Cron runs apply at the log backup interval itself, and the last run's
// backup completed a little after that run began: it is due a fifth short
// of the interval, or every other run would skip it and log backups would
// come at twice the interval.
func TestMake_LogDueAtTheCronCadence(t *testing.T) {
	for _, c := range []struct {
		ago  time.Duration
		want bool
	}{{14*time.Minute + 30*time.Second, true}, {12 * time.Minute, true}, {11*time.Minute + 30*time.Second, false}, {10 * time.Minute, false}} {
		last := art("L3.trn", artifact.Log, "400", "500", ago(c.ago))
		st := chainState(F, L1, L2, last)
		at(st, "dr_east", true, F, L1, L2, last)
		p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
		if got := p.Action("backup_log:sales/Sales") != nil; got != c.want {
			t.Errorf("last log backup %s ago, every 15m: due = %v, want %v", c.ago, got, c.want)
		}
	}
}

// The interval counts from when the last log backup began (its completion
// by drsctl's clock less its duration by the server's), as cron fires: a
// backup that took two minutes does not push the next one two minutes on.
func TestMake_LogDueFromWhenTheLastBegan(t *testing.T) {
	last := art("L3.trn", artifact.Log, "400", "500", ago(11*time.Minute))
	last.Start, last.Completed = ago(13*time.Minute), ago(11*time.Minute)
	st := chainState(F, L1, L2, last)
	at(st, "dr_east", true, F, L1, L2, last)
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	a := p.Action("backup_log:sales/Sales")
	if a == nil || !strings.Contains(a.Reason, "last log backup 13m ago") {
		t.Fatalf("a log backup that began 13m ago and took 2m, every 15m: %+v; want due, counted from its start", a)
	}
}
