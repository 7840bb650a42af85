package plan

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

// PostgreSQL-like positions: byte counts, 0/1000000 … 0/4000000 as the
// server writes them.
var (
	pgF  = art("F.bak", artifact.Full, "16777216", "33554432", ago(3*time.Hour))
	pgL1 = art("L1.trn", artifact.Log, "33554432", "50331648", ago(2*time.Hour))
	pgL2 = art("L2.trn", artifact.Log, "50331648", "67108864", ago(time.Hour))
)

// TestWords_EngineOfThePrimary renders a routine plan and a planned
// switchover for the same observation once with a SQL Server-like primary
// and once with a PostgreSQL one: the PostgreSQL plan speaks of base
// backups, WAL, replay and pg_promote(), writes LSNs as 0/4000000 and says
// nothing of readers blocking the switchover; SQL Server's keeps its words.
func TestWords_EngineOfThePrimary(t *testing.T) {
	sqlOnly := []string{"WITH NORECOVERY", "WITH STANDBY", "WITH RECOVERY", "RESTORING", "tail-log", "tail of the log", "backup log", "restore log", "readers of"}
	for _, c := range []struct {
		name, engine string
		promote      *PromoteRequest
		fresh        bool // nothing backed up yet
		other        bool // dr_east answers with something that is no standby
		want         []string
		wantNot      []string
	}{
		{name: "routine, postgres", engine: config.EnginePostgres,
			want: []string{"backup WAL ", "last WAL backup 1h ago, every 15m", "replay WAL (new WAL backup)", "restore base backup F.bak as hot standby",
				"the target stands after L2.trn (LSN 0/4000000) but the ledger says L1.trn"},
			wantNot: append([]string{"67108864", "backup full"}, sqlOnly...)},
		{name: "first apply, postgres", engine: config.EnginePostgres, fresh: true,
			want:    []string{"base backup ", "no base backup yet", "restore base backup (new base backup) as hot standby"},
			wantNot: append([]string{"backup full", "full backup"}, sqlOnly...)},
		{name: "not a standby, postgres", engine: config.EnginePostgres, other: true,
			want:    []string{"drsctl replays WAL only on a standby it built itself, still in recovery."},
			wantNot: sqlOnly},
		{name: "routine, sqlserver", engine: "memory",
			want: []string{"backup log ", "last log backup 1h ago, every 15m", "restore log (new log backup) WITH STANDBY", "restore full F.bak WITH STANDBY",
				"the target stands after L2.trn (LSN 67108864) but the ledger says L1.trn"}},
		{name: "switchover, postgres", engine: config.EnginePostgres, promote: &PromoteRequest{Target: "dr_east", Planned: true},
			want: []string{"backup WAL (final), primary made read-only", "switchover: the primary is made read-only (default_transaction_read_only) and its final WAL backed up",
				"replay WAL (new WAL backup)", "the primary's final WAL, after L2.trn", "promote (switchover) pg_promote()",
				"switchover: pg_promote() after the primary's final WAL; nothing written on the primary is lost"},
			wantNot: append([]string{"67108864"}, sqlOnly...)},
		{name: "switchover, sqlserver", engine: "memory", promote: &PromoteRequest{Target: "dr_east", Planned: true},
			want: []string{"backup log (tail) WITH NORECOVERY", "the primary database is left RESTORING", "restore log (new log backup) WITH STANDBY",
				"the tail of the log, after L2.trn", "promote (switchover) WITH RECOVERY", `readers of "Sales" on target "dr_east" would block the switchover`}},
		{name: "failover, postgres", engine: config.EnginePostgres, promote: &PromoteRequest{Target: "dr_east"},
			want:    []string{"promote (failover) pg_promote()", "failover: pg_promote() after L2.trn"},
			wantNot: sqlOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Primaries[0].Engine = c.engine
			fresh := &config.Target{Name: "dr_new", Primary: cfg.Primaries[0], Kind: config.Standby, RestoreMode: config.RestoreStandby,
				Destination: config.Destination{URL: "file:///dr_new", ServerPath: "/dr_new"}}
			cfg.Targets = []*config.Target{cfg.Targets[0], fresh} // dr_east and an unseeded standby
			st := chainState(pgF, pgL1, pgL2)
			var mut func(o *Observed)
			switch {
			case c.fresh:
				st = state.New("lineage-1")
				mut = func(o *Observed) {
					o.Targets["dr_new"] = &TargetObservation{Databases: map[string]*engine.StandbyDatabase{}}
					o.Destinations["dr_new"] = &StorageObservation{Objects: map[string]Object{}}
				}
			case c.promote == nil:
				// The ledger says L1; the standby's server says L2: recorded.
				at(st, "dr_east", true, pgF, pgL1)
				st.TargetDatabase("dr_east", "Sales").Copies[pgL2.ID] = &state.Copy{Key: pgL2.Key, Size: pgL2.Size, SHA256: pgL2.SHA256, ShippedAt: now, VerifiedAt: &now}
				mut = func(o *Observed) {
					o.Targets["dr_east"].Databases["Sales"].RedoLSN = pgL2.LastLSN
					if c.other {
						o.Targets["dr_east"].Databases["Sales"].State = engine.Other
						o.Targets["dr_east"].Databases["Sales"].RawState = "a cluster drsctl did not create is in /srv/dr"
					}
					o.Targets["dr_new"] = &TargetObservation{Databases: map[string]*engine.StandbyDatabase{}}
					o.Destinations["dr_new"] = &StorageObservation{Objects: map[string]Object{}}
				}
			default:
				at(st, "dr_east", true, pgF, pgL1, pgL2)
			}
			obs := observed(st, mut)
			obs.Primaries["sales"].Databases["Sales"].Backups = nil // drsctl's own, known from the ledger
			var out bytes.Buffer
			p := Make(cfg, st, obs, now, Options{Promote: c.promote})
			if err := WriteHuman(&out, p, Style{}); err != nil {
				t.Fatal(err)
			}
			for _, a := range p.Actions {
				out.WriteString(a.Describe() + "\n")
			}
			text := out.String()
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(text, w) {
					t.Errorf("%q in a PostgreSQL plan:\n%s", w, text)
				}
			}
			// A saved plan keeps its words.
			var saved bytes.Buffer
			if err := Save(&saved, p); err != nil {
				t.Fatal(err)
			}
			back, err := Load(&saved)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range back.Actions {
				if a.Verb() != p.Actions[i].Verb() {
					t.Errorf("saved and loaded, %s reads %q, was %q", a.ID, a.Verb(), p.Actions[i].Verb())
				}
			}
		})
	}
}

func TestWords_PlanFileRefusesAnUnknownEngine(t *testing.T) {
	p := &Plan{FormatVersion: FormatVersion, Actions: []*Action{{ID: "a", Kind: BackupLog, Primary: "p", Database: "d", Engine: "oracle"}}}
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), `unknown engine "oracle"`) {
		t.Errorf("Check = %v, want it to refuse engine oracle", err)
	}
}
