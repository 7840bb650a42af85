package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/state"
)

// realisticInput is benchInput with what a real ledger holds besides the
// chain: SHA-256 sums, backup family, start times, verified copies with
// their storage times. The state benchmarks measure the ledger as it is on
// disk, so every field a real artifact and copy carries is filled in.
func realisticInput(dbs, arts int) *state.State {
	_, st := benchInput(dbs, arts)
	i := 0
	for _, db := range st.Primaries["sales"].Databases {
		for _, a := range db.Artifacts {
			i++
			sum := sha256.Sum256([]byte(fmt.Sprint(i)))
			a.SHA256 = hex.EncodeToString(sum[:])
			a.FamilyGUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
			a.Start = a.Finish.Add(-time.Minute)
			a.Database = "Sales"
			a.CheckpointLSN = a.FirstLSN
			a.DatabaseBackupLSN = a.FirstLSN
			a.Completed = a.Finish
		}
		db.RecoveryModel = "FULL"
		db.CreatedAt = now.Add(-1000 * time.Hour)
		db.Identity = "9f1c0a1e-0000-4000-8000-00000000abcd"
	}
	for _, t := range st.Targets {
		for name, td := range t.Databases {
			db := st.LookupDatabase("sales", name)
			for _, a := range db.Artifacts {
				c := td.Copies[a.ID]
				c.SHA256, c.Size, c.ShippedAt, c.ModTime = a.SHA256, a.Size, a.Finish, a.Finish
			}
		}
	}
	return st
}

// writeLedger stores st as a local ledger (one snapshot) and returns its
// path.
func writeLedger(b *testing.B, st *state.State) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "drs.state")
	st.Serial = 0
	if err := state.NewLocal(path, state.LocalOptions{}).Write(context.Background(), st); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadAndPlan_1000x100 is what every plan and apply does first:
// read the ledger from disk and plan from it. Target ≤ 1 s.
func BenchmarkReadAndPlan_1000x100(b *testing.B) {
	cfg, _ := benchInput(1000, 100)
	path := writeLedger(b, realisticInput(1000, 100))
	fi, _ := os.Stat(path)
	b.ReportAllocs()
	b.ResetTimer()
	defer b.ReportMetric(float64(fi.Size())/1e6, "MB-snapshot")
	for i := 0; i < b.N; i++ {
		st, err := state.NewLocal(path, state.LocalOptions{}).Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if p := Make(cfg, st, nil, now.Add(20*time.Minute), Options{}); len(p.Actions) == 0 {
			b.Fatal("expected log backups to be due")
		}
	}
}

// BenchmarkRead_1000x100 is the read alone.
func BenchmarkRead_1000x100(b *testing.B) {
	path := writeLedger(b, realisticInput(1000, 100))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := state.NewLocal(path, state.LocalOptions{}).Read(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCommit measures committing one action (a log backup recorded: an
// artifact appended to one database) to a local journaled ledger of dbs
// databases × 100 artifacts, fsync included. Target: ≤ 20 ms, the same at
// 10 and at 1,000 databases. Compactions (one snapshot per half a
// snapshot's worth of entries) are included, amortized, as in real runs.
func benchCommit(b *testing.B, dbs int) {
	path := writeLedger(b, realisticInput(dbs, 100))
	m := state.NewLocal(path, state.LocalOptions{})
	st, err := m.Read(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	st.Track()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("db%04d", i%dbs)
		db := st.Database("sales", name)
		last := db.Artifacts[len(db.Artifacts)-1]
		a := *last
		a.ID = fmt.Sprintf("%s_x%d", name, i)
		a.Key = "k/" + a.ID
		db.Add(&a)
		if err := m.Write(context.Background(), st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommit_10x100(b *testing.B)   { benchCommit(b, 10) }
func BenchmarkCommit_1000x100(b *testing.B) { benchCommit(b, 1000) }

// BenchmarkWholeWrite_1000x100 is a snapshot of the whole ledger: what
// every commit cost before the journal, and what a compaction costs now.
func BenchmarkWholeWrite_1000x100(b *testing.B) {
	st := realisticInput(1000, 100)
	path := filepath.Join(b.TempDir(), "drs.state")
	m := state.NewLocal(path, state.LocalOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := st.Clone() // untracked: written whole
		c.Serial = uint64(i)
		if err := m.Write(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}
