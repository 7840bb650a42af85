package enginetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// base is beyond int64 (9.2e18): LSNs must never be converted.
const base = "98765432109876543210000"

type env struct {
	t     *testing.T
	drv   *Driver
	dir   string
	clock time.Time
	n     int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, drv: NewDriver(), dir: t.TempDir(), clock: time.Date(2026, 11, 25, 8, 0, 0, 123456789, time.UTC)}
	e.drv.Now = func() time.Time { return e.clock }
	return e
}

func (e *env) open(server string) engine.Session {
	e.t.Helper()
	s, err := e.drv.Open(context.Background(), "mem://"+server)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) path(name string) string {
	e.n++
	return filepath.Join(e.dir, fmt.Sprintf("%03d_%s", e.n, name))
}

// backup takes a backup through a session and returns its header and path.
func (e *env) backup(server, db string, kind artifact.Kind) (artifact.Header, string) {
	e.t.Helper()
	h, p, err := e.tryBackup(engine.BackupRequest{Database: db, Kind: kind}, server)
	if err != nil {
		e.t.Fatalf("backup %s %s on %s: %v", kind, db, server, err)
	}
	return h, p
}

func (e *env) tryBackup(req engine.BackupRequest, server string) (artifact.Header, string, error) {
	req.ServerPath = e.path(req.Database + "." + string(req.Kind))
	h, err := e.open(server).Backup(context.Background(), req, engine.NoProgress)
	return h, req.ServerPath, err
}

func (e *env) restore(server, db, path string, replace bool) error {
	return e.open(server).Restore(context.Background(), engine.RestoreRequest{Database: db, ServerPath: path, Mode: engine.NoRecovery, Replace: replace}, engine.NoProgress)
}

func (e *env) mustRestore(server, db, path string, replace bool) {
	e.t.Helper()
	if err := e.restore(server, db, path, replace); err != nil {
		e.t.Fatalf("restore %s on %s from %s: %v", db, server, filepath.Base(path), err)
	}
}

func (e *env) info(server, db string) DatabaseInfo {
	e.t.Helper()
	info, ok := e.drv.Server(server).Database(db)
	if !ok {
		e.t.Fatalf("%s has no database %s", server, db)
	}
	return info
}

func (e *env) identity(server, db string) string {
	e.t.Helper()
	obs, err := e.open(server).ObservePrimary(context.Background(), []string{db}, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return obs[0].Identity
}

func wantErr(t *testing.T, err error, target error, texts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error (%v %q), got none", target, texts)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %v", err, target)
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not say %q", err, s)
		}
	}
}

func lsnPlus(l artifact.LSN, n int64) artifact.LSN {
	b := bigOf(l)
	b.Add(b, bigOf(artifact.LSN(fmt.Sprint(n))))
	return lsnOf(b)
}

// Rule 1: a log backup writes no log record; an idle database's log backup
// is empty, and the first log after a full never is.
func TestIdleLogBackupsAreEmpty(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	full, _ := e.backup("p", "Sales", artifact.Full)
	if full.FirstLSN != base || full.CheckpointLSN != base || full.LastLSN != lsnPlus(base, 1) {
		t.Fatalf("full LSNs %s/%s/%s", full.FirstLSN, full.CheckpointLSN, full.LastLSN)
	}
	l1, _ := e.backup("p", "Sales", artifact.Log)
	if ok, why := artifact.Continues(full, l1); !ok || l1.FirstLSN == l1.LastLSN {
		t.Fatalf("the first log after a full must continue it and not be empty: %s [%s,%s)", why, l1.FirstLSN, l1.LastLSN)
	}
	l2, _ := e.backup("p", "Sales", artifact.Log)
	if l2.FirstLSN != l1.LastLSN || l2.LastLSN != l1.LastLSN {
		t.Fatalf("idle log = [%s,%s), want empty at %s", l2.FirstLSN, l2.LastLSN, l1.LastLSN)
	}
	l3, _ := e.backup("p", "Sales", artifact.Log)
	if l3.FirstLSN != l1.LastLSN || l3.LastLSN != l1.LastLSN {
		t.Fatalf("a second idle log = [%s,%s)", l3.FirstLSN, l3.LastLSN)
	}
	if err := p.Insert("Sales", 1, 2); err != nil {
		t.Fatal(err)
	}
	l4, _ := e.backup("p", "Sales", artifact.Log)
	if l4.FirstLSN != l3.LastLSN || l4.LastLSN != lsnPlus(l3.LastLSN, 2) {
		t.Fatalf("log after two writes = [%s,%s)", l4.FirstLSN, l4.LastLSN)
	}
	if err := p.Write("Sales"); err != nil {
		t.Fatal(err)
	}
	l5, _ := e.backup("p", "Sales", artifact.Log)
	if l5.LastLSN != lsnPlus(l4.LastLSN, 1) {
		t.Fatalf("Write must advance the LSN: [%s,%s)", l5.FirstLSN, l5.LastLSN)
	}
	if len(l5.LastLSN) <= 19 {
		t.Fatalf("LSN %s should exceed int64", l5.LastLSN)
	}
}

// Rule 1 (refusal): restoring an empty log fails like 4326.
func TestEmptyLogRestoreIsRefused(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	p.Insert("Sales", 1)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	l1, l1Path := e.backup("p", "Sales", artifact.Log)
	l2, l2Path := e.backup("p", "Sales", artifact.Log) // idle
	p.Insert("Sales", 2)
	_, l3Path := e.backup("p", "Sales", artifact.Log)

	e.mustRestore("s", "Sales", fullPath, false)
	e.mustRestore("s", "Sales", l1Path, false)
	err := e.restore("s", "Sales", l2Path, false)
	wantErr(t, err, engine.ErrChain, "4326", "too early", string(l2.LastLSN))
	if got := e.info("s", "Sales").RedoLSN; got != l1.LastLSN {
		t.Fatalf("a refused restore moved the standby to %s", got)
	}
	e.mustRestore("s", "Sales", l3Path, false) // the chain continues after the empty log
	if got := e.drv.Server("s").Rows("Sales"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("rows %v", got)
	}
	ev := e.drv.Server("s").Restores()
	if len(ev) != 4 || ev[2].Err == "" || ev[2].Done || !ev[3].Done || ev[3].Err != "" {
		t.Fatalf("audit %+v", ev)
	}
}

func TestLogRestoreOrder(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 1)
	_, l1Path := e.backup("p", "Sales", artifact.Log)
	p.Insert("Sales", 2)
	_, l2Path := e.backup("p", "Sales", artifact.Log)

	for _, tc := range []struct {
		name  string
		setup []string
		path  string
		want  []string
	}{
		{"log onto a missing database", nil, l1Path, []string{"3117"}},
		{"gap", []string{fullPath}, l2Path, []string{"4305", "too recent"}},
		{"already applied", []string{fullPath, l1Path}, l1Path, []string{"4326", "too early"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := strings.ReplaceAll(tc.name, " ", "_")
			for _, s := range tc.setup {
				e.mustRestore("s", db, s, false)
			}
			wantErr(t, e.restore("s", db, tc.path, false), engine.ErrChain, tc.want...)
		})
	}
	t.Run("log onto a recovered database", func(t *testing.T) {
		e.mustRestore("s", "rec", fullPath, false)
		if err := e.open("s").Recover(context.Background(), engine.RecoverRequest{Database: "rec"}); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.restore("s", "rec", l1Path, false), engine.ErrChain, "3117", "online")
	})
	t.Run("log of another database", func(t *testing.T) {
		p.Create("Other", base)
		e.backup("p", "Other", artifact.Full)
		p.Insert("Other", 9)
		_, ol := e.backup("p", "Other", artifact.Log)
		e.mustRestore("s", "X", fullPath, false)
		wantErr(t, e.restore("s", "X", ol, false), engine.ErrChain, "4330")
	})
}

// Rule 2: recovery begins a fork; a log from another world after the fork
// point is refused, a standby exactly at the fork point may follow the new
// fork.
func TestRecoveryForks(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	p.Insert("Sales", 1)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 2)
	l1, l1Path := e.backup("p", "Sales", artifact.Log)
	forkPoint := l1.LastLSN

	// a, c, d stand exactly at the fork point; b before it.
	for _, srv := range []string{"a", "c", "d"} {
		e.mustRestore(srv, "Sales", fullPath, false)
		e.mustRestore(srv, "Sales", l1Path, false)
	}
	e.mustRestore("b", "Sales", fullPath, false)

	// Failover: a is recovered and becomes the new primary (fork 2).
	before := e.info("a", "Sales")
	if err := e.open("a").Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}); err != nil {
		t.Fatal(err)
	}
	after := e.info("a", "Sales")
	if after.State != engine.Online || after.ReadOnly || after.Origin != Recovered || after.ChainLSN != forkPoint ||
		after.NextLSN != lsnPlus(forkPoint, 1) || len(after.Forks) != 2 || after.Forks[1].StartLSN != forkPoint ||
		after.Fork == before.Fork || after.RedoLSN != "" {
		t.Fatalf("after recovery: %+v", after)
	}
	a := e.drv.Server("a")
	if err := a.Insert("Sales", 10); err != nil {
		t.Fatalf("a recovered database is writable: %v", err)
	}
	n1, n1Path := e.backup("a", "Sales", artifact.Log)
	if n1.FirstLSN != forkPoint {
		t.Fatalf("the first log after recovery begins at %s, want the fork point %s", n1.FirstLSN, forkPoint)
	}
	// Meanwhile the old primary goes on in the old world: same LSNs, other path.
	p.Insert("Sales", 20)
	o2, o2Path := e.backup("p", "Sales", artifact.Log)
	if o2.FirstLSN != n1.FirstLSN || o2.LastLSN.Cmp(n1.FirstLSN) <= 0 {
		t.Fatalf("the two worlds should overlap in LSNs: old [%s,%s) new [%s,%s)", o2.FirstLSN, o2.LastLSN, n1.FirstLSN, n1.LastLSN)
	}
	if n1.FamilyGUID != o2.FamilyGUID {
		t.Fatal("both worlds are one database family")
	}

	// c stands exactly at the fork point: it may follow the new fork…
	e.mustRestore("c", "Sales", n1Path, false)
	if got := e.drv.Server("c").Rows("Sales"); !slices.Equal(got, []int{1, 2, 10}) {
		t.Fatalf("c rows %v", got)
	}
	// …and then the old world is another recovery path.
	wantErr(t, e.restore("c", "Sales", o2Path, false), engine.ErrChain, "4330", "recovery path")

	// d follows the old world past the fork point; the new world is refused.
	e.mustRestore("d", "Sales", o2Path, false)
	wantErr(t, e.restore("d", "Sales", n1Path, false), engine.ErrChain, "4330")

	// b is before the fork point: the new log leaves a gap (4305), not 4330.
	wantErr(t, e.restore("b", "Sales", n1Path, false), engine.ErrChain, "4305")

	// The new primary's own chain goes on: full and logs restore on a fresh standby.
	_, nfPath := e.backup("a", "Sales", artifact.Full)
	a.Insert("Sales", 11)
	_, n2Path := e.backup("a", "Sales", artifact.Log)
	e.mustRestore("e", "Sales", nfPath, false)
	e.mustRestore("e", "Sales", n2Path, false)
	if got := e.drv.Server("e").Rows("Sales"); !slices.Equal(got, []int{1, 2, 10, 11}) {
		t.Fatalf("e rows %v", got)
	}
	// The fork history travels with the backups.
	if got := e.info("e", "Sales").Forks; len(got) != 2 || got[1] != after.Forks[1] {
		t.Fatalf("e forks %+v", got)
	}
}

func TestRecoverByHandForksToo(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 1)
	l1, l1Path := e.backup("p", "Sales", artifact.Log)
	e.mustRestore("s", "Sales", fullPath, false)
	e.mustRestore("s", "Sales", l1Path, false)
	s := e.drv.Server("s")
	s.RecoverByHand("Sales")
	info := e.info("s", "Sales")
	if info.State != engine.Online || info.Origin != Recovered || len(info.Forks) != 2 || info.ChainLSN != l1.LastLSN {
		t.Fatalf("after RecoverByHand: %+v", info)
	}
	if s.Calls("recover") != 0 {
		t.Error("RecoverByHand is not a session call")
	}
	if err := s.Insert("Sales", 2); err != nil {
		t.Fatal(err)
	}
	n, _ := e.backup("s", "Sales", artifact.Log)
	if n.FirstLSN != l1.LastLSN {
		t.Fatalf("log after manual recovery starts at %s", n.FirstLSN)
	}
	// Recovering again is refused (3153); recovering nothing too.
	wantErr(t, e.open("s").Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}), nil, "3153")
	wantErr(t, e.open("s").Recover(context.Background(), engine.RecoverRequest{Database: "Nope"}), nil, "does not exist")
}

// Rule 3: a new primary built on another server from drsctl's backup
// files; its LSNs may be lower than the old primary's.
func TestPrimaryRebuiltOnAnotherServer(t *testing.T) {
	e := newEnv(t)
	old := e.drv.Server("old")
	old.Create("Sales", base)
	old.Insert("Sales", 1)
	_, fullPath := e.backup("old", "Sales", artifact.Full)
	old.Insert("Sales", 2)
	_, l1Path := e.backup("old", "Sales", artifact.Log)
	old.Insert("Sales", 3)
	l2, l2Path := e.backup("old", "Sales", artifact.Log)
	// A standby followed the old primary to exactly where the move happens.
	e.mustRestore("standby", "Sales", fullPath, false)
	e.mustRestore("standby", "Sales", l1Path, false)
	e.mustRestore("standby", "Sales", l2Path, false)
	oldID := e.identity("old", "Sales")
	// The old primary went on (then died): its LSNs are far ahead.
	for i := 0; i < 50; i++ {
		old.Insert("Sales", 100+i)
	}
	oldNext := e.info("old", "Sales").NextLSN

	// Build the new primary through the driver, as drsctl or a DBA would.
	ns, err := e.drv.Open(context.Background(), "mem://newserver")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range []string{fullPath, l1Path, l2Path} {
		if err := ns.Restore(ctx, engine.RestoreRequest{Database: "Sales", ServerPath: p, Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
			t.Fatal(err)
		}
	}
	if id := e.identity("newserver", "Sales"); id != "" {
		t.Errorf("a RESTORING database reports no identity, got %q", id)
	}
	if err := ns.Recover(ctx, engine.RecoverRequest{Database: "Sales"}); err != nil {
		t.Fatal(err)
	}
	n := e.info("newserver", "Sales")
	if n.State != engine.Online || n.NextLSN.Cmp(oldNext) >= 0 || !slices.Equal(n.Rows, []int{1, 2, 3}) {
		t.Fatalf("new primary %+v (old next %s)", n, oldNext)
	}
	obs, err := ns.ObservePrimary(ctx, []string{"Sales"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if o := obs[0]; !o.Exists || o.State != "ONLINE" || !o.LogChain || o.Identity == "" || o.Identity == oldID {
		t.Fatalf("observed new primary %+v (old identity %s)", o, oldID)
	}
	// msdb on the new server records the backup sets restored there.
	if got := len(obs[0].Backups); got != 3 {
		t.Errorf("new server's history has %d backups, want the 3 restored", got)
	}
	// It works as a primary: log backups continue from the fork point, and
	// the standby that stood exactly there follows it.
	e.drv.Server("newserver").Insert("Sales", 4)
	nl, nlPath := e.backup("newserver", "Sales", artifact.Log)
	if nl.FirstLSN != l2.LastLSN {
		t.Fatalf("new primary's first log begins at %s, want %s", nl.FirstLSN, l2.LastLSN)
	}
	e.mustRestore("standby", "Sales", nlPath, false)
	if got := e.drv.Server("standby").Rows("Sales"); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("standby rows %v", got)
	}
	// A fresh seed from the new primary works too.
	_, nfPath := e.backup("newserver", "Sales", artifact.Full)
	e.mustRestore("fresh", "Sales", nfPath, false)
	if got := e.drv.Server("fresh").Rows("Sales"); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("fresh rows %v", got)
	}
}

// Rule 4: a torn seed restore.
func TestTornRestore(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	p.Insert("Sales", 1)
	_, f1Path := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 2)
	l1, l1Path := e.backup("p", "Sales", artifact.Log)
	p.Insert("Sales", 3)
	_, f2Path := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 4)
	_, l2Path := e.backup("p", "Sales", artifact.Log)

	e.mustRestore("s", "Sales", f1Path, false)
	e.mustRestore("s", "Sales", l1Path, false)
	s := e.drv.Server("s")
	s.TearNextRestore("Sales")

	// The tear waits for a full restore that gets past its checks.
	wantErr(t, e.restore("s", "Sales", f2Path, false), nil, "REPLACE")
	err := e.restore("s", "Sales", f2Path, true)
	wantErr(t, err, engine.ErrUnreachable, "dropped")
	if errors.Is(err, engine.ErrChain) {
		t.Error("a torn restore looks like a dropped connection, not a chain refusal")
	}

	info := e.info("s", "Sales")
	if info.State != engine.Restoring || !info.Torn || info.RedoLSN != "" || len(info.Rows) != 0 || info.Origin != Restored {
		t.Fatalf("torn database %+v", info)
	}
	obs, err := e.open("s").ObserveStandby(context.Background(), []string{"Sales"})
	if err != nil {
		t.Fatal(err)
	}
	o := obs[0]
	if o.State != engine.Restoring || o.RedoLSN != "" || o.LastRestore == nil || o.LastRestore.LastLSN != l1.LastLSN || o.LastRestore.Kind != artifact.Log {
		t.Fatalf("observed torn database %+v last %+v: history must still show the old position", o, o.LastRestore)
	}
	wantErr(t, e.restore("s", "Sales", l2Path, false), engine.ErrChain, "middle of a restore", "full backup again")
	wantErr(t, e.restore("s", "Sales", l1Path, false), engine.ErrChain, "middle of a restore")
	wantErr(t, e.open("s").Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}), nil, "4333")
	s.RecoverByHand("Sales")
	if !e.info("s", "Sales").Torn {
		t.Fatal("a DBA cannot recover a torn database either")
	}
	if err := s.Insert("Sales", 9); err == nil {
		t.Fatal("a torn database is not writable")
	}
	// Stricter reading: restoring the full again needs REPLACE.
	wantErr(t, e.restore("s", "Sales", f2Path, false), nil, "REPLACE")
	e.mustRestore("s", "Sales", f2Path, true)
	e.mustRestore("s", "Sales", l2Path, false)
	if got := s.Rows("Sales"); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("rows after reseed %v", got)
	}

	ev := s.Restores()
	var torn, replacedTorn int
	for _, x := range ev {
		if x.Torn {
			torn++
			if x.Done || x.Err == "" || !x.Replace || x.ReplacedState != engine.Restoring || x.ReplacedOrigin != Restored {
				t.Errorf("torn event %+v", x)
			}
		}
		if x.ReplacedTorn && x.Kind == artifact.Full && x.Done {
			replacedTorn++
		}
	}
	if torn != 1 || replacedTorn != 1 {
		t.Fatalf("audit: %d torn, %d successful replaces of a torn database: %+v", torn, replacedTorn, ev)
	}
}

func TestTornRestoreOfANewDatabase(t *testing.T) {
	e := newEnv(t)
	e.drv.Server("p").Create("Sales", base)
	_, fPath := e.backup("p", "Sales", artifact.Full)
	s := e.drv.Server("s")
	s.TearNextRestore("Sales")
	wantErr(t, e.restore("s", "Sales", fPath, false), engine.ErrUnreachable)
	obs, _ := e.open("s").ObserveStandby(context.Background(), []string{"Sales"})
	if obs[0].State != engine.Restoring || obs[0].RedoLSN != "" || obs[0].LastRestore != nil {
		t.Fatalf("observed %+v", obs[0])
	}
	// Once only.
	e.mustRestore("s", "Sales", fPath, true)
	if e.info("s", "Sales").Torn {
		t.Fatal("still torn")
	}
}

// Rule 5: REPLACE strictness and the audit log.
func TestReplaceAndAudit(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	p.Create("Other", base)
	_, fPath := e.backup("p", "Sales", artifact.Full)
	s := e.drv.Server("s")
	s.SetClockOffset(3 * time.Hour)

	// Existing databases of every origin and state.
	s.Create("Mine", base)                      // created, online, another family
	e.mustRestore("s", "Sales", fPath, false)   // restored, restoring
	e.mustRestore("s", "Promoted", fPath, true) // then recovered
	if err := e.open("s").Recover(context.Background(), engine.RecoverRequest{Database: "Promoted"}); err != nil {
		t.Fatal(err)
	}
	e.mustRestore("s", "Online", fPath, false)
	s.RecoverByHand("Online")

	for _, tc := range []struct {
		db    string
		state engine.StandbyState
		org   Origin
		want  string
	}{
		{"Mine", engine.Online, Created, "3154"},
		{"Sales", engine.Restoring, Restored, "REPLACE was not given"},
		{"Promoted", engine.Online, Recovered, "3154"}, // a backup of Sales over Promoted
		{"Online", engine.Online, Recovered, "3154"},
	} {
		t.Run(tc.db, func(t *testing.T) {
			n := len(s.Restores())
			wantErr(t, e.restore("s", tc.db, fPath, false), nil, tc.want)
			ev := s.Restores()[n]
			if ev.Replace || ev.Done || ev.Err == "" || ev.ReplacedState != tc.state || ev.ReplacedOrigin != tc.org || ev.Kind != artifact.Full || ev.Path != fPath {
				t.Fatalf("refused event %+v", ev)
			}
			e.mustRestore("s", tc.db, fPath, true)
			ev = s.Restores()[n+1]
			if !ev.Replace || !ev.Done || ev.Err != "" || ev.ReplacedState != tc.state || ev.ReplacedOrigin != tc.org {
				t.Fatalf("replace event %+v", ev)
			}
			if !ev.At.Equal(e.clock.Add(3 * time.Hour)) {
				t.Errorf("event at %s, want the server clock", ev.At)
			}
			if got := e.info("s", tc.db).Origin; got != Restored {
				t.Errorf("origin after restore = %s", got)
			}
		})
	}
	// Over the online database it was taken of, with the tail not backed up: 3159.
	wantErr(t, e.restore("p", "Sales", fPath, false), nil, "3159", "tail of the log")
	if ev := p.Restores()[0]; ev.ReplacedState != engine.Online || ev.ReplacedOrigin != Created || ev.Done {
		t.Fatalf("refused restore over the primary: %+v", ev)
	}
	ev := s.Restores()[0]
	if ev.ReplacedState != engine.Absent || ev.ReplacedOrigin != "" || !ev.Done {
		t.Errorf("first restore of a new database: %+v", ev)
	}
	if s.Calls("restore") != len(s.Restores()) {
		t.Errorf("calls %d, audit %d", s.Calls("restore"), len(s.Restores()))
	}
}

// Rule 6: the server clock.
func TestClockOffset(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.SetClockOffset(-90 * time.Minute)
	p.Create("Sales", base)
	want := e.clock.Add(-90 * time.Minute)
	if got := e.info("p", "Sales").CreatedAt; !got.Equal(want) || got.Location() != time.UTC || got.Nanosecond() != 123456789 {
		t.Fatalf("CreatedAt %s, want %s at full precision in UTC", got, want)
	}
	obs, _ := e.open("p").ObservePrimary(context.Background(), []string{"Sales"}, time.Time{})
	if !obs[0].CreatedAt.Equal(want) {
		t.Fatalf("observed CreatedAt %s", obs[0].CreatedAt)
	}
	h, path := e.backup("p", "Sales", artifact.Full)
	if !h.Start.Equal(want) || !h.Finish.Equal(want) {
		t.Fatalf("backup times %s–%s, want %s", h.Start, h.Finish, want)
	}
	s := e.drv.Server("s")
	s.SetClockOffset(time.Hour)
	e.clock = e.clock.Add(time.Minute)
	e.mustRestore("s", "Sales", path, false)
	obs2, _ := e.open("s").ObserveStandby(context.Background(), []string{"Sales"})
	if at := obs2[0].LastRestore.At; !at.Equal(e.clock.Add(time.Hour)) {
		t.Fatalf("restore history at %s", at)
	}
	if got := e.info("s", "Sales").CreatedAt; !got.Equal(e.clock.Add(time.Hour)) {
		t.Fatalf("a restored database's create date is the restore's: %s", got)
	}
}

// Rule 7: identity changes on create, restore-over and recovery only.
func TestIdentity(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	id0 := e.identity("p", "Sales")
	if id0 == "" {
		t.Fatal("no identity")
	}
	same := func(what string, f func()) {
		t.Helper()
		f()
		if got := e.identity("p", "Sales"); got != id0 {
			t.Fatalf("%s changed the identity: %s → %s", what, id0, got)
		}
	}
	var fPath string
	same("insert", func() { p.Insert("Sales", 1) })
	same("full backup", func() { _, fPath = e.backup("p", "Sales", artifact.Full) })
	same("log backup", func() { e.backup("p", "Sales", artifact.Log) })
	same("copy-only backup", func() {
		if _, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Full, CopyOnly: true}, "p"); err != nil {
			t.Fatal(err)
		}
	})
	same("recovery model switch", func() { p.SetRecovery("Sales", "SIMPLE"); p.SetRecovery("Sales", "FULL") })
	same("clock offset", func() { p.SetClockOffset(time.Hour) })
	same("create date shift", func() { p.ShiftReportedCreateDate(-time.Hour) })
	obs, _ := e.open("p").ObservePrimary(context.Background(), []string{"Sales"}, time.Time{})
	if !obs[0].CreatedAt.Equal(e.info("p", "Sales").CreatedAt.Add(-time.Hour)) {
		t.Fatalf("shifted create date %s", obs[0].CreatedAt)
	}
	p.ShiftReportedCreateDate(0)

	p.HideIdentity(true)
	if got := e.identity("p", "Sales"); got != "" {
		t.Fatalf("hidden identity %q", got)
	}
	p.HideIdentity(false)

	// Recreated: a new identity.
	p.Create("Sales", base)
	id1 := e.identity("p", "Sales")
	if id1 == id0 || id1 == "" {
		t.Fatalf("recreated: %s → %s", id0, id1)
	}
	// Restored over (REPLACE, then RECOVERY): a new identity again.
	e.mustRestore("p", "Sales", fPath, true)
	if got := e.identity("p", "Sales"); got != "" {
		t.Fatalf("restoring: identity %q, want none", got)
	}
	if err := e.open("p").Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}); err != nil {
		t.Fatal(err)
	}
	id2 := e.identity("p", "Sales")
	if id2 == id1 || id2 == id0 || id2 == "" {
		t.Fatalf("restored over: %s, %s → %s", id0, id1, id2)
	}
}

// Rule 9: COPY_ONLY and out-of-band backups.
func TestCopyOnlyAndOutOfBand(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	// A copy-only full starts no chain.
	if _, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Full, CopyOnly: true}, "p"); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log}, "p")
	wantErr(t, err, nil, "4214")

	full, _ := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 1)
	l1, _ := e.backup("p", "Sales", artifact.Log)
	// A copy-only full changes neither the chain nor the differential base.
	co, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Full, CopyOnly: true}, "p")
	if err != nil || !co.CopyOnly {
		t.Fatal(err)
	}
	p.Insert("Sales", 2)
	// A copy-only log does not move the chain.
	col, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log, CopyOnly: true}, "p")
	if err != nil || col.FirstLSN != l1.LastLSN {
		t.Fatalf("copy-only log %+v %v", col, err)
	}
	l2, _ := e.backup("p", "Sales", artifact.Log)
	if l2.FirstLSN != l1.LastLSN || l2.DatabaseBackupLSN != full.CheckpointLSN {
		t.Fatalf("log after copy-only backups [%s,%s) base %s; want first %s base %s", l2.FirstLSN, l2.LastLSN, l2.DatabaseBackupLSN, l1.LastLSN, full.CheckpointLSN)
	}
	if ok, why := artifact.Continues(l1, l2); !ok {
		t.Fatal(why)
	}

	// Out-of-band full and log: in the history, not counted, not failed.
	calls := p.Calls("backup")
	p.FailNext("backup", "Sales", false, errors.New("boom"))
	of, err := p.BackupOutOfBandFull(context.Background(), "Sales", e.path("manual.bak"))
	if err != nil || of.Kind != artifact.Full {
		t.Fatal(err)
	}
	ol, err := p.BackupOutOfBand(context.Background(), "Sales", e.path("manual.trn"))
	if err != nil || ol.FirstLSN != l2.LastLSN {
		t.Fatalf("out-of-band log %+v %v", ol, err)
	}
	if p.Calls("backup") != calls {
		t.Error("out-of-band backups are not drsctl's calls")
	}
	hist := p.Backups("Sales")
	if n := len(hist); n < 2 || hist[n-2].Header != of || hist[n-1].Header != ol {
		t.Fatalf("history %+v", hist)
	}
	_, _, err = e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log}, "p")
	wantErr(t, err, nil, "boom") // the FailNext was left for drsctl
	p.SetDown(true)
	_, err = p.BackupOutOfBand(context.Background(), "Sales", e.path("x.trn"))
	wantErr(t, err, engine.ErrUnreachable)
}

func TestRecoveryModelAndTailLog(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	e.backup("p", "Sales", artifact.Full)
	p.SetRecovery("Sales", "SIMPLE")
	_, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log}, "p")
	wantErr(t, err, nil, "4208")
	p.SetRecovery("Sales", "FULL")
	_, _, err = e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log}, "p")
	wantErr(t, err, nil, "4214")
	e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 1)
	tail, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log, NoRecovery: true}, "p")
	if err != nil {
		t.Fatal(err)
	}
	info := e.info("p", "Sales")
	if info.State != engine.Restoring || info.RedoLSN != tail.LastLSN {
		t.Fatalf("after a tail-log backup %+v", info)
	}
	if err := p.Insert("Sales", 2); err == nil {
		t.Fatal("a restoring database is not writable")
	}
	_, _, err = e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log}, "p")
	wantErr(t, err, nil, "927")
}

// Rule 10: failures.
func TestFailNext(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("connection reset by peer")
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	p.Create("Other", base)

	t.Run("backup before", func(t *testing.T) {
		n := len(p.Backups("Sales"))
		p.FailNext("backup", "Sales", false, boom)
		_, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Full}, "p")
		wantErr(t, err, boom)
		if len(p.Backups("Sales")) != n {
			t.Fatal("a failed backup was recorded")
		}
	})
	var fullPath string
	t.Run("backup after", func(t *testing.T) {
		n := len(p.Backups("Sales"))
		p.FailNext("backup", "Sales", true, boom)
		_, path, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Full}, "p")
		wantErr(t, err, boom)
		if len(p.Backups("Sales")) != n+1 || e.info("p", "Sales").ChainLSN == "" {
			t.Fatal("the backup must have happened")
		}
		fullPath = path
	})
	t.Run("backup of another database is not failed", func(t *testing.T) {
		p.FailNext("backup", "Sales", false, boom)
		e.backup("p", "Other", artifact.Full)
		_, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Log}, "p")
		wantErr(t, err, boom)
	})
	s := e.drv.Server("s")
	t.Run("restore before", func(t *testing.T) {
		s.FailNext("restore", "Sales", false, boom)
		wantErr(t, e.restore("s", "Sales", fullPath, false), boom)
		if s.Exists("Sales") {
			t.Fatal("restored anyway")
		}
	})
	t.Run("restore after", func(t *testing.T) {
		s.FailNext("restore", "Sales", true, boom)
		wantErr(t, e.restore("s", "Sales", fullPath, false), boom)
		if !s.Exists("Sales") {
			t.Fatal("not restored")
		}
		ev := s.Restores()
		if last := ev[len(ev)-1]; !last.Done || !strings.Contains(last.Err, "reset") {
			t.Fatalf("audit %+v", last)
		}
	})
	t.Run("recover before and after", func(t *testing.T) {
		s.FailNext("recover", "Sales", false, boom)
		wantErr(t, e.open("s").Recover(ctx, engine.RecoverRequest{Database: "Sales"}), boom)
		if e.info("s", "Sales").State != engine.Restoring {
			t.Fatal("recovered anyway")
		}
		s.FailNext("recover", "", true, boom)
		wantErr(t, e.open("s").Recover(ctx, engine.RecoverRequest{Database: "Sales"}), boom)
		if e.info("s", "Sales").State != engine.Online {
			t.Fatal("not recovered")
		}
	})
	t.Run("observe", func(t *testing.T) {
		p.FailNext("observe", "Nope", false, boom)
		if _, err := e.open("p").ObservePrimary(ctx, []string{"Sales"}, time.Time{}); err != nil {
			t.Fatalf("a failure for another database fired: %v", err)
		}
		p.FailNext("observe", "Sales", false, boom)
		_, err := e.open("p").ObservePrimary(ctx, []string{"Other", "Sales"}, time.Time{})
		wantErr(t, err, boom)
		p.FailNext("observe", "Nope", true, boom)
		_, err = e.open("p").ObserveStandby(ctx, []string{"Nope"})
		wantErr(t, err, boom)
		// the first one is still pending
		_, err = e.open("p").ObserveStandby(ctx, []string{"Nope"})
		wantErr(t, err, boom)
	})
	t.Run("describe", func(t *testing.T) {
		h, err := e.open("x").Describe(ctx, fullPath)
		if err != nil || h.Kind != artifact.Full || h.Database != "Sales" {
			t.Fatalf("%+v %v", h, err)
		}
		e.drv.Server("x").FailNext("describe", "", false, boom)
		_, err = e.open("x").Describe(ctx, fullPath)
		wantErr(t, err, boom)
		_, err = e.open("x").Describe(ctx, filepath.Join(e.dir, "missing"))
		wantErr(t, err, nil, "3201")
	})
	t.Run("down", func(t *testing.T) {
		sess := e.open("p")
		p.SetDown(true)
		_, err := sess.ObservePrimary(ctx, []string{"Sales"}, time.Time{})
		wantErr(t, err, engine.ErrUnreachable)
		_, err = e.drv.Open(ctx, "mem://p")
		wantErr(t, err, engine.ErrUnreachable)
		p.SetDown(false)
	})
}

func TestCancelledContextDoesNothing(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	sess := e.open("s")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := sess.Restore(ctx, engine.RestoreRequest{Database: "Sales", ServerPath: fullPath, Mode: engine.NoRecovery}, engine.NoProgress)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	s := e.drv.Server("s")
	if s.Exists("Sales") {
		t.Fatal("a cancelled restore did the work")
	}
	if ev := s.Restores(); len(ev) != 1 || ev[0].Done || ev[0].Err == "" {
		t.Fatalf("audit %+v", ev)
	}
	if _, err := e.open("p").Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: e.path("x")}, engine.NoProgress); !errors.Is(err, context.Canceled) {
		t.Fatalf("backup err = %v", err)
	}
	if _, err := e.open("p").ObservePrimary(ctx, []string{"Sales"}, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("observe err = %v", err)
	}
	if err := e.open("p").Recover(ctx, engine.RecoverRequest{Database: "Sales"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("recover err = %v", err)
	}
}

func TestReadersAndStandbyMode(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 1)
	_, l1Path := e.backup("p", "Sales", artifact.Log)
	sess := e.open("s")
	ctx := context.Background()
	// No undo file named: the engine chooses its own place (its default
	// data directory), as the sqlserver engine does.
	if err := sess.Restore(ctx, engine.RestoreRequest{Database: "Sales", ServerPath: fullPath, Mode: engine.StandbyMode}, engine.NoProgress); err != nil {
		t.Fatal(err)
	}
	if err := sess.Restore(ctx, engine.RestoreRequest{Database: "Sales", ServerPath: fullPath, Mode: engine.StandbyMode, UndoFile: e.path("undo"), Replace: true}, engine.NoProgress); err != nil {
		t.Fatal(err)
	}
	s := e.drv.Server("s")
	if info := e.info("s", "Sales"); info.State != engine.Standby || !info.ReadOnly {
		t.Fatalf("%+v", info)
	}
	wantErr(t, s.Insert("Sales", 5), nil, "3906")
	_, _, err := e.tryBackup(engine.BackupRequest{Database: "Sales", Kind: artifact.Full}, "s")
	wantErr(t, err, nil, "3036")
	s.SetReaders("Sales", 2)
	err = sess.Restore(ctx, engine.RestoreRequest{Database: "Sales", ServerPath: l1Path, Mode: engine.StandbyMode, UndoFile: e.path("undo")}, engine.NoProgress)
	wantErr(t, err, engine.ErrInUse, "3101")
	err = sess.Restore(ctx, engine.RestoreRequest{Database: "Sales", ServerPath: l1Path, Mode: engine.StandbyMode, UndoFile: e.path("undo"), DisconnectUsers: true}, engine.NoProgress)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.info("s", "Sales").Readers; got != 0 {
		t.Fatalf("readers %d after disconnecting them", got)
	}
	// A kind that does not match the file is refused.
	err = sess.Restore(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Log, ServerPath: fullPath, Mode: engine.NoRecovery, Replace: true}, engine.NoProgress)
	wantErr(t, err, nil, "not a log backup")
}

func TestDropAndExists(t *testing.T) {
	e := newEnv(t)
	p := e.drv.Server("p")
	p.Create("Sales", base)
	_, fullPath := e.backup("p", "Sales", artifact.Full)
	e.mustRestore("s", "Sales", fullPath, false)
	s := e.drv.Server("s")
	if !s.Exists("Sales") {
		t.Fatal("missing")
	}
	s.Drop("Sales")
	if s.Exists("Sales") {
		t.Fatal("still there")
	}
	if _, ok := s.Database("Sales"); ok {
		t.Fatal("Database reports a dropped database")
	}
	obs, _ := e.open("s").ObserveStandby(context.Background(), []string{"Sales"})
	if obs[0].State != engine.Absent {
		t.Fatalf("%+v", obs[0])
	}
	// No REPLACE needed over nothing.
	e.mustRestore("s", "Sales", fullPath, false)
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	e.drv.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return e.clock }
	p := e.drv.Server("p")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		db := fmt.Sprintf("db%d", i)
		p.Create(db, base)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			sess, _ := e.drv.Open(ctx, "mem://p")
			full := filepath.Join(e.dir, db+".bak")
			if _, err := sess.Backup(ctx, engine.BackupRequest{Database: db, Kind: artifact.Full, ServerPath: full}, engine.NoProgress); err != nil {
				t.Error(err)
				return
			}
			for j := 0; j < 5; j++ {
				p.Insert(db, j)
				path := filepath.Join(e.dir, fmt.Sprintf("%s_%d.trn", db, j))
				if _, err := sess.Backup(ctx, engine.BackupRequest{Database: db, Kind: artifact.Log, ServerPath: path}, engine.NoProgress); err != nil {
					t.Error(err)
				}
				sess.ObservePrimary(ctx, []string{db}, time.Time{})
				p.Database(db)
				p.Restores()
			}
			st, _ := e.drv.Open(ctx, "mem://s")
			if err := st.Restore(ctx, engine.RestoreRequest{Database: db, ServerPath: full, Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
				t.Error(err)
			}
			for j := 0; j < 5; j++ {
				path := filepath.Join(e.dir, fmt.Sprintf("%s_%d.trn", db, j))
				if err := st.Restore(ctx, engine.RestoreRequest{Database: db, ServerPath: path, Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		if got := e.drv.Server("s").Rows(fmt.Sprintf("db%d", i)); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
			t.Errorf("db%d rows %v", i, got)
		}
	}
}
