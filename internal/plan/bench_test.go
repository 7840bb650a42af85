package plan

import (
	"fmt"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/state"
)

// benchInput builds dbs databases, each with a chain of arts artifacts (a
// full every 25, logs between) restored to the end on one standby and one
// copy-only target, so the planner walks every chain.
func benchInput(dbs, arts int) (*config.Config, *state.State) {
	cfg := testConfig()
	cfg.Targets = []*config.Target{cfg.Targets[0], cfg.Targets[2]}
	p := cfg.Primaries[0]
	p.Databases = nil
	st := state.New("bench")
	for d := 0; d < dbs; d++ {
		name := fmt.Sprintf("db%04d", d)
		p.Databases = append(p.Databases, name)
		db := st.Database("sales", name)
		lsn := 1000
		var list []*state.Artifact
		for i := 0; i < arts; i++ {
			kind := artifact.Log
			first, last := lsn, lsn+100
			if i%25 == 0 {
				kind = artifact.Full
				first, last = lsn-50, lsn+10
			} else {
				lsn += 100
			}
			a := &state.Artifact{ID: fmt.Sprintf("%s_%d", name, i), Key: fmt.Sprintf("k/%s/%d", name, i), Size: 1,
				Header: artifact.Header{Kind: kind, FirstLSN: artifact.LSN(fmt.Sprint(first)), LastLSN: artifact.LSN(fmt.Sprint(last)),
					Finish: now.Add(time.Duration(i-arts) * time.Minute)}}
			if kind == artifact.Full {
				lsn = last - 10
			}
			db.Artifacts = append(db.Artifacts, a)
			list = append(list, a)
		}
		for _, tn := range []string{"dr_east", "vault"} {
			td := st.TargetDatabase(tn, name)
			for _, a := range list {
				v := a.Finish
				td.Copies[a.ID] = &state.Copy{Key: a.Key, Size: 1, VerifiedAt: &v}
			}
			td.SeededFrom = list[0].ID
			if tn == "dr_east" {
				last := list[len(list)-1]
				td.Restored = &state.Restore{Artifact: last.ID, Kind: last.Kind, LastLSN: last.LastLSN}
			}
		}
	}
	return cfg, st
}

// BenchmarkMake_1000x100: target ≤ 1 s per plan, memory linear in input.
func BenchmarkMake_1000x100(b *testing.B) {
	cfg, st := benchInput(1000, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := Make(cfg, st, nil, now.Add(20*time.Minute), Options{})
		if len(p.Actions) == 0 {
			b.Fatal("expected log backups to be due")
		}
	}
}

func BenchmarkMake_100x100(b *testing.B) {
	cfg, st := benchInput(100, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Make(cfg, st, nil, now.Add(20*time.Minute), Options{})
	}
}
