package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashSteps are the failpoints of a local write, with the file each
// applies to ("" = the state file itself).
var crashSteps = []struct{ step, suffix string }{
	{"append", ".journal"}, {"sync", ".journal"},
	{"backup", ".backup"},
	{"create", ""}, {"write", ""}, {"sync", ""}, {"close", ""}, {"rename", ""},
	{"rename", ".journal"},
}

// TestLocal_journal_crashes: random histories of commits against a local
// journaled ledger, with the writer killed (a panic, so no cleanup runs) at
// a random step of some writes, torn entries left at the journal's end and
// compactions in between. After every crash a new process reads either
// the last acknowledged ledger or the one being written, never anything
// else; every acknowledged commit is there; and writing goes on.
func TestLocal_journal_crashes(t *testing.T) {
	ctx := context.Background()
	seeds := []int64{}
	if *journalSeed != 0 {
		seeds = append(seeds, *journalSeed)
	} else {
		for i := int64(1); i <= 60; i++ {
			seeds = append(seeds, i)
		}
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, seed := range seeds {
		r := rand.New(rand.NewSource(seed))
		fail := func(format string, a ...any) {
			t.Helper()
			t.Fatalf("seed %d (replay: -run TestLocal_journal_crashes -journal.seed=%d): %s", seed, seed, fmt.Sprintf(format, a...))
		}
		path := filepath.Join(t.TempDir(), "drs.state")
		open := func() *Local {
			l := NewLocal(path, LocalOptions{})
			l.compactMin = int64(500 + r.Intn(4000))
			return l
		}
		l := open()
		s := New(NewLineage())
		if err := l.Write(ctx, s); err != nil {
			fail("%v", err)
		}
		s.Track()
		acked := jsonOf(t, s)
		crashes, compactions := 0, 0
		for commit := 0; commit < 50; commit++ {
			for n := r.Intn(3) + 1; n > 0; n-- {
				mutate(r, s, at.Add(time.Duration(commit)*time.Minute))
			}
			next := s.Clone()
			next.Serial++
			want := jsonOf(t, next)
			if r.Intn(5) == 0 {
				c := crashSteps[r.Intn(len(crashSteps))]
				l.failpoint = func(step, file string) error {
					if step == c.step && file == path+c.suffix {
						panic("crash")
					}
					return nil
				}
				crashed := func() (crashed bool) {
					defer func() { crashed = recover() != nil }()
					if err := l.Write(ctx, s); err != nil {
						fail("write: %v", err)
					}
					return false
				}()
				if !crashed {
					l.failpoint = nil
					acked = want
					continue
				}
				crashes++
				l = open()
				got, err := l.Read(ctx)
				if err != nil {
					fail("read after a crash at %s of %s: %v", c.step, path+c.suffix, err)
				}
				switch jsonOf(t, got) {
				case acked:
				case want:
					acked = want
				default:
					fail("after a crash at %s of %s the ledger is neither the acknowledged one nor the one being written:\n%s\nacknowledged:\n%s", c.step, c.suffix, jsonOf(t, got), acked)
				}
				s = got
				s.Track()
				continue
			}
			if err := l.Write(ctx, s); err != nil {
				fail("write: %v", err)
			}
			acked = want
			if _, err := os.Stat(path + ".journal"); errors.Is(err, os.ErrNotExist) {
				compactions++
			}
			if r.Intn(6) == 0 { // a run killed while appending: a torn entry at the end
				torn := []string{`deadbeef {"version":1,"lin`, "0000000 x\n", "12345678 {}\n"}[r.Intn(3)]
				f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err != nil {
					fail("%v", err)
				}
				f.WriteString(torn)
				f.Close()
				l = open()
				got, err := l.Read(ctx)
				if err != nil {
					fail("read with a torn entry at the end: %v", err)
				}
				if jsonOf(t, got) != acked {
					fail("a torn entry changed the ledger")
				}
				s = got
				s.Track()
			}
		}
		got, err := open().Read(ctx)
		if err != nil {
			fail("%v", err)
		}
		if jsonOf(t, got) != acked {
			fail("the final ledger is not the last acknowledged one")
		}
		t.Logf("seed %d: %d crashes, %d compactions", seed, crashes, compactions)
	}
}

// TestLocal_journal_damageInTheMiddle: a damaged entry that is not the last
// is refused, naming the line; never skipped.
func TestLocal_journal_damageInTheMiddle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	l := NewLocal(path, LocalOptions{})
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	for i := 0; i < 3; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := os.ReadFile(path + ".journal")
	lines := strings.SplitAfter(string(raw), "\n")
	lines[1] = strings.Replace(lines[1], "db1", "dbX", 1)
	os.WriteFile(path+".journal", []byte(strings.Join(lines, "")), 0o600)
	_, err := NewLocal(path, LocalOptions{}).Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "damaged at line 2") {
		t.Fatalf("Read = %v, want the damaged line named", err)
	}
}

// TestLocal_missingStateWithBackup is the ledger removed by mistake: Read
// refuses to start afresh and names the way back, a first write of a new
// ledger is refused too, and restore-backup brings back every acknowledged
// commit.
func TestLocal_missingStateWithBackup(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	l := NewLocal(path, LocalOptions{})
	l.compactMin = 300
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	for i := 0; i < 20; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	want := jsonOf(t, s)
	if _, err := os.Stat(path + ".backup"); err != nil {
		t.Fatalf("no backup after compactions: %v", err)
	}
	os.Remove(path)

	l = NewLocal(path, LocalOptions{})
	got, err := l.Read(ctx)
	if err == nil || got != nil || !strings.Contains(err.Error(), "drsctl state restore-backup") || !strings.Contains(err.Error(), s.Lineage) {
		t.Fatalf("Read of a removed state = %v, %v; want an error naming the backup's lineage and restore-backup", got, err)
	}
	if err := l.Write(ctx, New(NewLineage())); err == nil {
		t.Fatal("a new ledger was written over the old one's backup")
	}
	if _, err := l.RestoreBackup(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = l.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != want {
		t.Fatalf("restored ledger differs:\n%s\nwant:\n%s", jsonOf(t, got), want)
	}
}
