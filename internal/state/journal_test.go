package state

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

var journalSeed = flag.Int64("journal.seed", 0, "replay one journal history with this seed (0: many)")

// jsonOf is the canonical form of a ledger, for comparing two. A primary or
// target without databases is the same as none.
func jsonOf(t *testing.T, s *State) string {
	t.Helper()
	c := s.Clone()
	for n, p := range c.Primaries {
		if len(p.Databases) == 0 {
			delete(c.Primaries, n)
		}
	}
	for n, tg := range c.Targets {
		if len(tg.Databases) == 0 {
			delete(c.Targets, n)
		}
	}
	var b bytes.Buffer
	if err := Write(c, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// mutate makes one random change to s the way apply does: through the
// accessors, within one commit.
func mutate(r *rand.Rand, s *State, at time.Time) {
	prims, targets := []string{"p1", "p2"}, []string{"east", "vault"}
	db := fmt.Sprintf("db%d", r.Intn(4))
	p := prims[r.Intn(len(prims))]
	tg := targets[r.Intn(len(targets))]
	ptime := func() *time.Time { v := at.Add(time.Duration(r.Intn(1000)) * time.Second); return &v }
	switch r.Intn(12) {
	case 0, 1, 2: // a backup taken (appended) or adopted (placed by LSN)
		d := s.Database(p, db)
		d.RecoveryModel = "FULL"
		n := len(d.Artifacts)
		lsn := artifact.LSN(fmt.Sprint(1000 + 10*n))
		a := &Artifact{ID: fmt.Sprintf("%s_%d_%d", db, n, r.Intn(1e6)), Key: "k/" + db, Size: int64(r.Intn(100)), SHA256: fmt.Sprintf("%064x", r.Int63()),
			Header: artifact.Header{Kind: artifact.Log, FirstLSN: lsn, LastLSN: lsn + "5", Finish: at, Start: at}, OutOfBand: r.Intn(3) == 0, Completed: at}
		if r.Intn(4) == 0 {
			a.More = []Stripe{{Key: a.Key + ".s02of02.bak", Size: 1, SHA256: "ab"}}
			a.Stripes = 2
		}
		d.Add(a)
	case 3: // pruned, or damaged
		d := s.LookupDatabase(p, db)
		if d == nil || len(d.Artifacts) == 0 {
			return
		}
		a := d.Artifacts[r.Intn(len(d.Artifacts))]
		if r.Intn(2) == 0 {
			a.PrunedAt = ptime()
		} else {
			a.DamagedAt = ptime()
		}
	case 4: // forgotten
		d := s.LookupDatabase(p, db)
		if d == nil || len(d.Artifacts) == 0 {
			return
		}
		i := r.Intn(len(d.Artifacts))
		d.Artifacts = append(d.Artifacts[:i:i], d.Artifacts[i+1:]...)
	case 5: // the chain restarts
		d := s.Database(p, db)
		d.Identity = fmt.Sprint(r.Intn(3))
		d.Restart = []string{"", "recreated"}[r.Intn(2)]
	case 6, 7: // shipped, verified
		d := s.LookupDatabase(p, db)
		if d == nil || len(d.Artifacts) == 0 {
			return
		}
		a := d.Artifacts[r.Intn(len(d.Artifacts))]
		td := s.TargetDatabase(tg, db)
		c := td.Copies[a.ID]
		if c == nil {
			td.Copies[a.ID] = &Copy{Key: a.Key, Size: a.Size, SHA256: a.SHA256, ShippedAt: at}
		} else {
			c.VerifiedAt = ptime()
			c.ModTime = at
		}
	case 8: // copy pruned
		td := s.LookupTargetDatabase(tg, db)
		if td == nil {
			return
		}
		for id := range td.Copies {
			delete(td.Copies, id)
			break
		}
	case 9: // restored, seeded
		td := s.TargetDatabase(tg, db)
		td.Restored = &Restore{Artifact: "x", Kind: artifact.Log, LastLSN: "77", Mode: "standby", At: at}
		td.SeededFrom = []string{"", "f1"}[r.Intn(2)]
		td.Seeding = []string{"", "f2"}[r.Intn(2)]
	case 10: // promoted, drilled
		td := s.TargetDatabase(tg, db)
		if r.Intn(2) == 0 {
			td.PromotedAt, td.PromotedHow, td.PromotedLSN = ptime(), PromoteUnplanned, "12"
		} else {
			td.LastDrill = &Drill{At: at, Duration: time.Second, Artifact: "a", Through: at, OK: true, Check: "ok"}
			td.DrillOKAt = ptime()
		}
	case 11: // a record dropped whole
		if r.Intn(2) == 0 {
			if s.LookupDatabase(p, db) != nil {
				delete(s.Primaries[p].Databases, db)
			}
		} else if s.LookupTargetDatabase(tg, db) != nil {
			delete(s.Targets[tg].Databases, db)
		}
	}
}

// TestJournal_replayEqualsLedger is the journal's promise, over random
// histories: a snapshot plus the entries written after it reads back as
// exactly the ledger the writer holds, after every commit; and an entry
// costs what the commit changed (it never holds an unchanged artifact).
func TestJournal_replayEqualsLedger(t *testing.T) {
	seeds := []int64{}
	if *journalSeed != 0 {
		seeds = append(seeds, *journalSeed)
	} else {
		for i := int64(1); i <= 200; i++ {
			seeds = append(seeds, i)
		}
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, seed := range seeds {
		r := rand.New(rand.NewSource(seed))
		w := New("lin")
		w.Track()
		replica := New("lin")
		for commit := 0; commit < 60; commit++ {
			for n := r.Intn(3) + 1; n > 0; n-- {
				mutate(r, w, at.Add(time.Duration(commit)*time.Minute))
			}
			if r.Intn(20) == 0 { // a snapshot instead of an entry (compaction)
				var b bytes.Buffer
				w.Serial++
				if err := WriteSnapshot(w, &b); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				var err error
				if replica, err = ReadSnapshot(b.Bytes()); err != nil {
					t.Fatalf("seed %d: snapshot: %v", seed, err)
				}
				w.ClearChanges()
			} else {
				raw, err := EncodeEntry(w)
				if err != nil {
					t.Fatalf("seed %d commit %d: %v", seed, commit, err)
				}
				if err := ApplyEntry(replica, raw); err != nil {
					t.Fatalf("seed %d commit %d: replay: %v\n%s", seed, commit, err, raw)
				}
				w.Serial++
				w.ClearChanges()
			}
			if got, want := jsonOf(t, replica), jsonOf(t, w); got != want {
				t.Fatalf("seed %d commit %d: the replayed ledger differs from the writer's (replay: go test ./internal/state -run TestJournal_replayEqualsLedger -journal.seed=%d)\nreplayed:\n%s\nwriter:\n%s", seed, commit, seed, got, want)
			}
		}
	}
}

// TestJournal_entryHoldsOnlyTheChange: one shipped copy in a database of
// 100 artifacts makes an entry that names that copy and no artifact.
func TestJournal_entryHoldsOnlyTheChange(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := New("lin")
	d := s.Database("p", "Sales")
	for i := 0; i < 100; i++ {
		d.Artifacts = append(d.Artifacts, &Artifact{ID: fmt.Sprintf("a%03d", i), Key: "k", SHA256: "s", Header: artifact.Header{Kind: artifact.Log, FirstLSN: "1", LastLSN: "2", Start: at, Finish: at}})
		s.TargetDatabase("east", "Sales").Copies[fmt.Sprintf("a%03d", i)] = &Copy{Key: "k", SHA256: "s", ShippedAt: at}
	}
	s.Track()
	s.LookupDatabase("p", "Sales")
	s.TargetDatabase("east", "Sales").Copies["a100"] = &Copy{Key: "k", SHA256: "s", ShippedAt: at}
	raw, err := EncodeEntry(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"a0`) || !strings.Contains(string(raw), `"a100"`) || strings.Contains(string(raw), `"databases"`) {
		t.Fatalf("entry holds more (or less) than the new copy:\n%s", raw)
	}
	if len(raw) > 600 {
		t.Fatalf("entry is %d bytes for one copy", len(raw))
	}
}

// TestJournal_untrackedChangeWritesWhole: a change made through Primary or
// Target (not through a database accessor) is not lost: the entry is the
// whole ledger.
func TestJournal_untrackedChangeWritesWhole(t *testing.T) {
	s := New("lin")
	s.Track()
	s.Primary("p").Databases["x"] = &Database{}
	if !s.WholeEntry() {
		t.Fatal("a change through Primary did not make the entry whole")
	}
	raw, err := EncodeEntry(s)
	if err != nil {
		t.Fatal(err)
	}
	r := New("lin")
	if err := ApplyEntry(r, raw); err != nil {
		t.Fatal(err)
	}
	if r.LookupDatabase("p", "x") == nil {
		t.Fatal("the whole entry lost the database")
	}
}

func TestApplyEntry_refuses(t *testing.T) {
	s := New("lin")
	s.Track()
	s.Database("p", "d").RecoveryModel = "FULL"
	raw, err := EncodeEntry(s)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		s    *State
		raw  string
		want string
	}{
		"other lineage":  {New("other"), string(raw), "lineage"},
		"gap":            {&State{Lineage: "lin", Serial: 5, Primaries: map[string]*Primary{}, Targets: map[string]*Target{}}, string(raw), "does not follow serial 5"},
		"unknown field":  {New("lin"), strings.Replace(string(raw), `"serial"`, `"bogus":1,"serial"`, 1), "bogus"},
		"newer version":  {New("lin"), strings.Replace(string(raw), `"version":1`, `"version":9`, 1), "newer drsctl"},
		"truncated":      {New("lin"), string(raw[:len(raw)/2]), "journal entry"},
		"bad lsn inside": {New("lin"), strings.Replace(string(raw), `"artifacts":[]`, `"artifacts":[{"id":"a","kind":"log","first_lsn":"x"}]`, 1), "first_lsn"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ApplyEntry(tc.s, []byte(tc.raw))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ApplyEntry = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestSnapshot_roundTrip: the binary snapshot holds every field the JSON
// file holds (fullState sets them all), and a damaged one is refused.
func TestSnapshot_roundTrip(t *testing.T) {
	s := fullState()
	var b bytes.Buffer
	if err := WriteSnapshot(s, &b); err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != jsonOf(t, s) {
		t.Fatalf("snapshot round trip differs:\n%s\n---\n%s", jsonOf(t, got), jsonOf(t, s))
	}
	raw := b.Bytes()
	for i := len(snapshotMagic); i < len(raw); i += 7 {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x40
		if _, err := ReadSnapshot(bad); err == nil {
			t.Fatalf("a snapshot with byte %d altered was accepted", i)
		}
	}
	for _, n := range []int{0, 10, len(snapshotMagic) + 3, len(raw) - 1} {
		if _, err := ReadSnapshot(raw[:n]); err == nil {
			t.Fatalf("a snapshot cut at %d bytes was accepted", n)
		}
	}
}

// TestSnapshot_refusesWhatJSONRefuses: the encoder applies the JSON
// writer's checks, so neither format can hold what the other refuses.
func TestSnapshot_refusesWhatJSONRefuses(t *testing.T) {
	for name, change := range map[string]func(s *State){
		"bad kind": func(s *State) { s.Database("sales", "Sales").Artifacts[0].Kind = "diff" },
		"bad lsn":  func(s *State) { s.Database("sales", "Sales").Artifacts[0].LastLSN = "0x1" },
		"year 10000": func(s *State) {
			s.Database("sales", "Sales").Artifacts[0].Finish = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"promoted": func(s *State) { s.TargetDatabase("dr_east", "Sales").PromotedHow = "magic" },
	} {
		t.Run(name, func(t *testing.T) {
			s := fullState()
			change(s)
			var a, b bytes.Buffer
			errJSON, errBin := Write(s, &a), WriteSnapshot(s, &b)
			if errJSON == nil || errBin == nil {
				t.Fatalf("Write: %v, WriteSnapshot: %v; want both refused", errJSON, errBin)
			}
		})
	}
}
