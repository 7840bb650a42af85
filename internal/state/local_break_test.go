package state

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocal_upgradedLedgerRemovedThenRestored is the operator's week after
// an upgrade: the previous release left PATH (JSON, serial N) and
// PATH.backup (JSON, serial N-1, the state before its last write); this
// release appends its first entries to a new journal beside them; then a
// cleanup job removes PATH. restore-backup must bring back every
// acknowledged commit, and the ledger must read afterwards.
func TestLocal_upgradedLedgerRemovedThenRestored(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	// The previous release: a whole JSON file per write, the one before
	// it kept as PATH.backup.
	old := New(NewLineage())
	old.Serial = 6
	old.Database("p", "db0").RecoveryModel = "FULL"
	writeJSON(t, path+".backup", old)
	old.Serial = 7
	old.Database("p", "db1").RecoveryModel = "FULL"
	writeJSON(t, path, old)

	l := NewLocal(path, LocalOptions{})
	s, err := l.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Track()
	for i := 2; i < 5; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	want := jsonOf(t, s)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l = NewLocal(path, LocalOptions{})
	if _, err := l.Read(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("serial %d", s.Serial)) {
		t.Fatalf("Read of the removed state: %v; want the backup named at serial %d (every acknowledged commit)", err, s.Serial)
	}
	got, err := l.RestoreBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != want {
		t.Fatalf("restore-backup lost acknowledged commits: got serial %d, want %d", got.Serial, s.Serial)
	}
	got, err = NewLocal(path, LocalOptions{}).Read(ctx)
	if err != nil {
		t.Fatalf("the restored ledger cannot be read: %v", err)
	}
	if jsonOf(t, got) != want {
		t.Fatalf("restored ledger reads back as serial %d, want %d", got.Serial, s.Serial)
	}
}

func writeJSON(t *testing.T, path string, s *State) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(s, &b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLocal_wholeWriteThenEntriesThenRemoved: a whole snapshot written over
// a journaled ledger (a state that is not tracked: a tool, an older caller)
// and then commits as entries: the backup with its journals must still
// reach the newest of them when PATH is removed. (Removed right after the
// whole write, before any entry, the backup is the ledger before it, as
// before the journal: TestLocal_Write.)
func TestLocal_wholeWriteThenEntriesThenRemoved(t *testing.T) {
	for _, after := range []int{1, 2} {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "drs.state.json")
		l := NewLocal(path, LocalOptions{})
		s := New(NewLineage())
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.Track()
		commit := func(i int) {
			t.Helper()
			s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
			if err := l.Write(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		commit(0)
		commit(1)
		whole := s.Clone() // untracked: written whole
		whole.Database("p", "db2").RecoveryModel = "FULL"
		if err := l.Write(ctx, whole); err != nil {
			t.Fatal(err)
		}
		s = whole
		s.Track()
		for i := 0; i < after; i++ {
			commit(3 + i)
		}
		want := jsonOf(t, s)
		os.Remove(path)
		l = NewLocal(path, LocalOptions{})
		got, err := l.RestoreBackup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if jsonOf(t, got) != want {
			t.Fatalf("restore-backup after a whole write and %d entries: serial %d, want %d", after, got.Serial, s.Serial)
		}
		if _, err := NewLocal(path, LocalOptions{}).Read(ctx); err != nil {
			t.Fatalf("the restored ledger cannot be read: %v", err)
		}
	}
}

// TestLocal_restoreBackupAfterAGap: a backup that does not reach the
// journal (entries after a gap: a backup replaced by hand, or left by a
// crash between a whole write and the next entry) restores what it can,
// says which commits are lost, and leaves a ledger that reads: the
// journal's unreplayable entries are moved aside, not left to make every
// later read fail.
func TestLocal_restoreBackupAfterAGap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	var warned []string
	l := NewLocal(path, LocalOptions{})
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	s.Database("p", "db0").RecoveryModel = "FULL"
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// The backup is an older ledger than the journal follows.
	older := New(s.Lineage)
	writeJSON(t, path+".backup", older)
	os.Remove(path)
	os.Remove(path + ".backup.journal")
	// Drop the first entry so the journal starts after a gap.
	raw, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".journal", raw[bytes.IndexByte(raw, '\n')+1:], 0o600); err != nil {
		t.Fatal(err)
	}
	l = NewLocal(path, LocalOptions{Warnf: func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }})
	if _, err := l.Read(ctx); err == nil || !strings.Contains(err.Error(), "cannot be replayed") {
		t.Fatalf("Read: %v; want the lost commits after the gap named", err)
	}
	got, err := l.RestoreBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "lost") {
		t.Fatalf("restore-backup over a gap warned %q; want the lost commits named", warned)
	}
	back, err := NewLocal(path, LocalOptions{}).Read(ctx)
	if err != nil {
		t.Fatalf("the restored ledger cannot be read: %v", err)
	}
	if back.Serial != got.Serial {
		t.Fatalf("restored serial %d reads back as %d", got.Serial, back.Serial)
	}
	// The lost ledger reached serial 5: a plan saved from it must be
	// stale against the restored one, so no serial it had is reused.
	if got.Serial <= 5 {
		t.Fatalf("the restored ledger has serial %d, one the lost ledger had (up to 5): a plan saved from that would be taken as current", got.Serial)
	}
	// And it takes writes again.
	back.Track()
	back.Database("p", "db9").RecoveryModel = "FULL"
	if err := NewLocal(path, LocalOptions{}).Write(ctx, back); err != nil {
		t.Fatal(err)
	}
}

// TestLocal_readWhileAnotherProcessCompacts: status (which takes no lock)
// reads the snapshot; before it reads the journal, the apply running in
// another process folds that journal into a new snapshot and moves it to
// PATH.backup.journal. The reader must not answer with the old snapshot
// alone (a ledger a whole journal behind, shown as current), nor fail with
// an error that reads as damage: it reads the ledger again.
func TestLocal_readWhileAnotherProcessCompacts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	w := NewLocal(path, LocalOptions{})
	w.compactMin = 1 << 30
	s := New(NewLineage())
	if err := w.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	for i := 0; i < 5; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := w.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, then := range []string{"compact", "compact and append"} {
		r := NewLocal(path, LocalOptions{})
		fired := false
		r.afterSnapshotRead = func() {
			if fired {
				return
			}
			fired = true
			w.compactMin = 1 // the next write compacts
			s.Database("p", "late-"+then).RecoveryModel = "FULL"
			if err := w.Write(ctx, s); err != nil {
				t.Fatal(err)
			}
			w.compactMin = 1 << 30
			if then == "compact and append" {
				s.Database("p", "later").RecoveryModel = "FULL"
				if err := w.Write(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := r.Read(ctx)
		if !fired {
			t.Fatal("the test hook did not run")
		}
		if err != nil {
			t.Fatalf("%s during a read: %v", then, err)
		}
		if got.Serial != s.Serial {
			t.Fatalf("%s during a read: read serial %d, but serial %d was committed before the read finished", then, got.Serial, s.Serial)
		}
	}
}

// TestLocal_abandonKeepsChangesMadeAfterStage is group commit's failed
// write: apply stages a write, and while it goes to disk another action
// records its change in the ledger (tracked after the Stage); the write
// fails (disk full) and is abandoned. A later write must cover both
// changes: Abandon put back the tracking of before the Stage, and with it
// forgot the change made in between, which then never reached the
// journal though it stays in the ledger in memory.
func TestLocal_abandonKeepsChangesMadeAfterStage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	l := NewLocal(path, LocalOptions{})
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	s.Database("p", "staged").RecoveryModel = "FULL"
	c, err := l.Stage(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Database("p", "between").RecoveryModel = "FULL" // another action, during the write
	l.failpoint = func(step, file string) error {
		if step == "append" {
			return fmt.Errorf("no space left on device")
		}
		return nil
	}
	if err := c.Commit(ctx); err == nil {
		t.Fatal("the write did not fail")
	}
	c.Abandon()
	l.failpoint = nil
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := NewLocal(path, LocalOptions{}).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != jsonOf(t, s) {
		t.Fatalf("after an abandoned write, the next one lost a change:\n%s\nwant:\n%s", jsonOf(t, got), jsonOf(t, s))
	}
}

// TestLocal_upgradeKilledDuringFirstCompaction: a JSON state file of the
// previous release (with its PATH.backup one write behind) is upgraded in
// place by the first apply of this one, which is killed at each step of
// its first write, an entry and a compaction. The next run reads the old
// ledger or the new one; and if PATH is then lost too, restore-backup
// brings back exactly what that run read.
func TestLocal_upgradeKilledDuringFirstCompaction(t *testing.T) {
	ctx := context.Background()
	steps := append([]struct{ step, suffix string }{}, crashSteps...)
	steps = append(steps, struct{ step, suffix string }{"none", ""})
	for _, c := range steps {
		path := filepath.Join(t.TempDir(), "drs.state.json")
		old := New(NewLineage())
		old.Serial = 6
		old.Database("p", "db0").RecoveryModel = "FULL"
		writeJSON(t, path+".backup", old)
		old.Serial = 7
		old.Database("p", "db1").RecoveryModel = "FULL"
		writeJSON(t, path, old)
		before := jsonOf(t, old)

		l := NewLocal(path, LocalOptions{})
		l.compactMin = 1 // the first write compacts
		s, err := l.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Track()
		s.Database("p", "db2").RecoveryModel = "FULL"
		next := s.Clone()
		next.Serial++
		after := jsonOf(t, next)
		l.failpoint = func(step, file string) error {
			if step == c.step && file == path+c.suffix {
				panic("killed")
			}
			return nil
		}
		func() {
			defer func() { _ = recover() }()
			if err := l.Write(ctx, s); err != nil {
				t.Fatalf("%s %s: %v", c.step, c.suffix, err)
			}
		}()
		got, err := NewLocal(path, LocalOptions{}).Read(ctx)
		if err != nil {
			t.Fatalf("killed at %s%s: the next run cannot read the ledger: %v", c.step, c.suffix, err)
		}
		read := jsonOf(t, got)
		if read != before && read != after {
			t.Fatalf("killed at %s%s: the next run reads serial %d, neither the old ledger nor the new", c.step, c.suffix, got.Serial)
		}
		os.Remove(path)
		back, err := NewLocal(path, LocalOptions{}).RestoreBackup(ctx)
		if err != nil {
			t.Fatalf("killed at %s%s, then the state file lost: %v", c.step, c.suffix, err)
		}
		if read == before && back.Serial == 6 {
			// Killed before the new ledger's first entry: the files are
			// the previous release's, whose backup is the ledger before
			// its last write, as it always was.
			continue
		}
		if jsonOf(t, back) != read {
			t.Fatalf("killed at %s%s, then the state file lost: restore-backup gives serial %d, the ledger was at %d", c.step, c.suffix, back.Serial, got.Serial)
		}
	}
}

// TestLocal_stateFileRestoredFromAnOlderCopy: the host's nightly file
// backup brings back drs.state.json alone, older than the journal beside
// it (a compaction ran since). The ledger cannot be read, and the error
// must say why and what to do, not read as damage.
func TestLocal_stateFileRestoredFromAnOlderCopy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	l := NewLocal(path, LocalOptions{})
	l.compactMin = 1
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	nightly, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil { // compacts every time
			t.Fatal(err)
		}
	}
	l.compactMin = 1 << 30
	s.Database("p", "db9").RecoveryModel = "FULL"
	if err := l.Write(ctx, s); err != nil { // an entry after the last snapshot
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nightly, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = NewLocal(path, LocalOptions{}).Read(ctx)
	if err == nil {
		t.Fatal("an older state file with a newer journal read as a ledger")
	}
	for _, want := range []string{"older than its journal", path + ".journal", "drsctl state rebuild"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestLocal_commitAfterAnotherWriterAppended: a run staged a write, then
// lost its lease (stalled past the TTL: a VM paused, a full disk's retries)
// while another run took the lock over and committed; the first then
// commits what it staged. Its entry must not be written over the other's
// (at the offset the journal had when it staged), silently dropping an
// acknowledged commit: the commit fails.
func TestLocal_commitAfterAnotherWriterAppended(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	a := NewLocal(path, LocalOptions{})
	s := New(NewLineage())
	if err := a.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	s.Database("p", "a").RecoveryModel = "FULL"
	staged, err := a.Stage(s)
	if err != nil {
		t.Fatal(err)
	}
	b := NewLocal(path, LocalOptions{})
	o, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o.Track()
	o.Database("p", "b").RecoveryModel = "FULL"
	if err := b.Write(ctx, o); err != nil {
		t.Fatal(err)
	}
	want := jsonOf(t, o)
	if err := staged.Commit(ctx); err == nil {
		t.Error("a commit staged before another process's write went through")
	}
	got, err := NewLocal(path, LocalOptions{}).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != want {
		t.Fatalf("the other process's acknowledged commit is gone:\n%s\nwant:\n%s", jsonOf(t, got), want)
	}
}

// TestLocal_firstWriteAfterUpgradeLeavesNoStaleJSON: after an upgrade, the
// first write of this release must not leave the previous release's JSON
// state file in place with the new commits in a journal beside it: an
// operator who rolls the binary back (the upgrade went badly) would run the
// previous release, which reads PATH alone, on a ledger silently missing
// every commit since the upgrade. The first write makes PATH a snapshot,
// which the previous release refuses to read.
func TestLocal_firstWriteAfterUpgradeLeavesNoStaleJSON(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	old := New(NewLineage())
	old.Serial = 7
	old.Database("p", "db0").RecoveryModel = "FULL"
	writeJSON(t, path, old)
	l := NewLocal(path, LocalOptions{})
	s, err := l.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Track()
	s.Database("p", "db1").RecoveryModel = "FULL"
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !IsSnapshot(raw) {
		t.Fatalf("after the first write of this release, %s is still the previous release's JSON (serial 7) with serial %d in the journal beside it: a rolled-back drsctl would read a stale ledger", path, s.Serial)
	}
	got, err := NewLocal(path, LocalOptions{}).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != jsonOf(t, s) {
		t.Fatal("the ledger differs after the upgrade's first write")
	}
}

// TestLocal_compactionRemovesWhatKilledWritersLeft: a run killed while it
// wrote a snapshot leaves its temporary file, as big as the ledger (100 MB
// at 1,000 databases). A week of kills (a cron host rebooted nightly, a
// runner's job timeout) must not fill the disk with them: the next
// compaction removes those that are not new (a writer that is alive holds
// the lock, and writes its file within seconds).
func TestLocal_compactionRemovesWhatKilledWritersLeft(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "drs.state.json")
	l := NewLocal(path, LocalOptions{})
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	old := time.Now().Add(-time.Hour)
	leftovers := []string{path + ".tmp-1234567", path + ".backup.tmp-7654321", path + ".backup.tmp-99"}
	for _, f := range leftovers {
		if err := os.WriteFile(f, []byte("half a snapshot"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	fresh := path + ".tmp-555"
	if err := os.WriteFile(fresh, []byte("being written"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.compactMin = 1
	s.Database("p", "db").RecoveryModel = "FULL"
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, f := range leftovers {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s, left by a killed write an hour ago, is still there after a compaction", filepath.Base(f))
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary file written just now was removed: %v", err)
	}
}

// TestLocal_damagedStateFileNamesTheWayBack: the state file rots (a
// failing disk, a sync tool that truncated it). The backup with the
// journals beside it still reaches the newest commit: the error says so
// and names the way back, and that way gives back every commit.
func TestLocal_damagedStateFileNamesTheWayBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state.json")
	l := NewLocal(path, LocalOptions{})
	l.compactMin = 200
	s := New(NewLineage())
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Track()
	for i := 0; i < 12; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	want := jsonOf(t, s)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = NewLocal(path, LocalOptions{}).Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "drsctl state restore-backup") || !strings.Contains(err.Error(), fmt.Sprintf("serial %d", s.Serial)) {
		t.Fatalf("Read of a damaged state file: %v; want the way back (restore-backup) and the serial it reaches (%d)", err, s.Serial)
	}
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	got, err := NewLocal(path, LocalOptions{}).RestoreBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != want {
		t.Fatalf("restore-backup after a damaged state file: serial %d, want %d", got.Serial, s.Serial)
	}
}

// TestLocal_upgradeKeepsTheLastCopyOfAnOldLineage: with the previous
// release, `rm drs.state.json; drsctl apply` started a new ledger and left
// the old one's last copy as PATH.backup. This release must not overwrite
// that copy when it makes the new ledger's snapshot the backup: it is kept
// beside, under a name that says whose it is.
func TestLocal_upgradeKeepsTheLastCopyOfAnOldLineage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "drs.state.json")
	oldLedger := New(NewLineage())
	oldLedger.Serial = 40
	oldLedger.Database("p", "years-of-history").RecoveryModel = "FULL"
	writeJSON(t, path+".backup", oldLedger)
	fresh := New(NewLineage())
	fresh.Serial = 1
	writeJSON(t, path, fresh)

	l := NewLocal(path, LocalOptions{})
	l.compactMin = 1 // and compactions
	s, err := l.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Track()
	for i := 0; i < 3; i++ {
		s.Database("p", fmt.Sprint("db", i)).RecoveryModel = "FULL"
		if err := l.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if st, err := Read(bytes.NewReader(raw)); err == nil && st.Lineage == oldLedger.Lineage {
			if !strings.Contains(e.Name(), oldLedger.Lineage) {
				t.Errorf("the old ledger's last copy is kept as %s, a name that does not say whose it is", e.Name())
			}
			return
		}
	}
	t.Fatalf("the last copy of ledger %s (serial 40) was overwritten by the new ledger's backup", oldLedger.Lineage)
}
