package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// drillFixture: Sales on the primary with rows 1–4, a full (row 1) and two
// logs (rows 2; 3 and 4, written a minute apart), restored WITHOUT MOVE as a
// NORECOVERY standby on the target, so the standby uses the files the
// backup names: a restore under another name without MOVE would collide.
type drillFixture struct {
	*fixture
	full, log1, log2 string
	row3, row4       time.Time
	finish           map[string]time.Time // each backup's finish (UTC), as the ledger has it
}

func newDrillFixture(t *testing.T) *drillFixture { return newDrillFixtureIn(t, "") }

// newDrillFixtureIn: the primary's clock in zone (IANA; "" is UTC), the
// target's in UTC.
func newDrillFixtureIn(t *testing.T, zone string) *drillFixture {
	var mu sync.Mutex
	clock := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d); return clock }
	f := simFixture(t, simOptions{now: now, primaryZone: zone})
	df := &drillFixture{fixture: f, full: "Sales_full.bak", log1: "Sales_log1.trn", log2: "Sales_log2.trn", finish: map[string]time.Time{}}
	p := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	df.finish[df.full] = f.backup(t, p, "Sales", artifact.Full, df.full).Finish
	advance(time.Minute)
	insert(t, f.primary, "Sales", 2)
	df.finish[df.log1] = f.backup(t, p, "Sales", artifact.Log, df.log1).Finish
	df.row3 = advance(time.Minute)
	insert(t, f.primary, "Sales", 3)
	df.row4 = advance(time.Minute)
	insert(t, f.primary, "Sales", 4)
	advance(time.Minute)
	df.finish[df.log2] = f.backup(t, p, "Sales", artifact.Log, df.log2).Finish

	// No MOVE: the standby keeps the backup's file names (seeded by hand,
	// or by a drsctl from before it moved files to the server's default
	// paths), so a restore under another name without MOVE collides.
	exec(t, f.target, "RESTORE DATABASE [Sales] FROM DISK = "+quoteString(f.path(df.full))+" WITH NORECOVERY")
	for _, file := range []string{df.log1, df.log2} {
		exec(t, f.target, "RESTORE LOG [Sales] FROM DISK = "+quoteString(f.path(file))+" WITH NORECOVERY")
	}
	return df
}

func (df *drillFixture) request(name string, files ...string) engine.DrillRequest {
	req := engine.DrillRequest{Database: name}
	for i, file := range files {
		kind := artifact.Log
		if i == 0 {
			kind = artifact.Full
		}
		req.Backups = append(req.Backups, engine.DrillBackup{Kind: kind, ServerPath: df.path(file), Finish: df.finish[file]})
	}
	return req
}

// dropped returns the rows the scratch database held when it was dropped.
func (df *drillFixture) dropped(t *testing.T, name string) string {
	t.Helper()
	for _, d := range df.sims[1].Dropped() {
		if d.Name == name {
			return fmt.Sprint(d.Rows)
		}
	}
	t.Fatalf("%s was never dropped on the target", name)
	return ""
}

// standbyUntouched checks the standby is still restoring where the last log
// left it, and that no scratch database is left on the target.
func (df *drillFixture) standbyUntouched(t *testing.T, s engine.Session, scratch string) {
	t.Helper()
	sb := standbyOf(t, s, "Sales")
	if sb.State != engine.Restoring || sb.LastRestore == nil || !strings.HasSuffix(sb.LastRestore.Path, df.log2) {
		t.Errorf("the standby changed: %+v", sb)
	}
	if got := standbyOf(t, s, scratch); got.State != engine.Absent {
		t.Errorf("scratch database %s is still on the server: %+v", scratch, got)
	}
}

func TestSession_Drill(t *testing.T) {
	df := newDrillFixture(t)
	s := open(t, df.targetDSN)
	dr, ok := s.(engine.Driller)
	if !ok {
		t.Fatal("the sqlserver engine must implement engine.Driller")
	}
	ctx := context.Background()
	redoBefore := standbyOf(t, s, "Sales").RedoLSN

	t.Run("newest", func(t *testing.T) {
		var steps []string
		res, err := dr.Drill(ctx, df.request("drsctl_drill_Sales_1", df.full, df.log1, df.log2),
			engine.ProgressFunc(func(_ int, m string) { steps = append(steps, m) }))
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		if !strings.Contains(res.Check, "DBCC CHECKDB") || res.Left || len(res.Restored) != 3 {
			t.Errorf("result %+v", res)
		}
		if got := df.dropped(t, "drsctl_drill_Sales_1"); got != "[1 2 3 4]" {
			t.Errorf("the scratch database held rows %s, want [1 2 3 4]", got)
		}
		if !strings.Contains(strings.Join(steps, "\n"), "DBCC CHECKDB") {
			t.Errorf("no progress for the check: %q", steps)
		}
		df.standbyUntouched(t, s, "drsctl_drill_Sales_1")
		if got := standbyOf(t, s, "Sales").RedoLSN; got != redoBefore {
			t.Errorf("standby redo LSN moved from %s to %s", redoBefore, got)
		}
	})

	t.Run("stopat", func(t *testing.T) {
		req := df.request("drsctl_drill_Sales_2", df.full, df.log1, df.log2)
		req.StopAt = df.row3.Add(30 * time.Second) // after row 3, before row 4
		if _, err := dr.Drill(ctx, req, engine.NoProgress); err != nil {
			t.Fatalf("drill: %v", err)
		}
		if got := df.dropped(t, "drsctl_drill_Sales_2"); got != "[1 2 3]" {
			t.Errorf("STOPAT between rows 3 and 4: the scratch database held %s, want [1 2 3]", got)
		}
		df.standbyUntouched(t, s, "drsctl_drill_Sales_2")
	})

	t.Run("stopat after the last log", func(t *testing.T) {
		req := df.request("drsctl_drill_Sales_3", df.full, df.log1)
		req.StopAt = df.row4 // log1 ends before it: the database stays restoring
		_, err := dr.Drill(ctx, req, engine.NoProgress)
		if err == nil || !strings.Contains(err.Error(), "not ONLINE") {
			t.Fatalf("want a drill that did not reach its point to fail, got %v", err)
		}
		df.standbyUntouched(t, s, "drsctl_drill_Sales_3")
	})

	t.Run("existing name refused", func(t *testing.T) {
		res, err := dr.Drill(ctx, df.request("Sales", df.full), engine.NoProgress)
		if err == nil || !strings.Contains(err.Error(), "already exists") || res.Left {
			t.Fatalf("a drill into an existing database must be refused, got %v %+v", err, res)
		}
		df.standbyUntouched(t, s, "drsctl_drill_none")
		for _, d := range df.sims[1].Dropped() {
			if d.Name == "Sales" {
				t.Fatal("the standby was dropped")
			}
		}
	})

	t.Run("damaged log", func(t *testing.T) {
		b, err := os.ReadFile(df.path(df.log2))
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(df.path("Sales_log2_damaged.trn"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := dr.Drill(ctx, df.request("drsctl_drill_Sales_4", df.full, df.log1, "Sales_log2_damaged.trn"), engine.NoProgress)
		if !errors.Is(err, engine.ErrDamaged) || res.Left || res.Check != "" {
			t.Fatalf("want ErrDamaged with the scratch dropped, got %v %+v", err, res)
		}
		if got := df.dropped(t, "drsctl_drill_Sales_4"); got != "[1 2]" {
			t.Errorf("the partly restored scratch held %s", got)
		}
		df.standbyUntouched(t, s, "drsctl_drill_Sales_4")
	})

	t.Run("cancelled still drops", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		p := engine.ProgressFunc(func(_ int, m string) {
			if strings.HasPrefix(m, "restore") && strings.Contains(m, df.log1) {
				cancel() // after the full is restored: the scratch exists
			}
		})
		_, err := dr.Drill(cctx, df.request("drsctl_drill_Sales_5", df.full, df.log1, df.log2), p)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want a cancelled drill, got %v", err)
		}
		df.dropped(t, "drsctl_drill_Sales_5")
		df.standbyUntouched(t, s, "drsctl_drill_Sales_5")
	})
}

// TestSimulator_DrillWithoutMoveRefused: restoring the standby's backup
// under a new name on the standby's server, without MOVE, would overwrite
// the standby's files: SQL Server refuses with 1834 and 3156 (then 3119,
// 3013), and so must the simulator, or drills without MOVE would pass here.
func TestSimulator_DrillWithoutMoveRefused(t *testing.T) {
	df := newDrillFixture(t)
	_, err := df.target.ExecContext(context.Background(), "RESTORE DATABASE [Sales_copy] FROM DISK = "+quoteString(df.path(df.full))+" WITH RECOVERY")
	if err == nil {
		t.Fatal("a restore under a new name onto the standby's files must fail")
	}
	for _, want := range []string{"1834", "being used by database 'Sales'", "3156", "WITH MOVE"} {
		if !hasNumber(err, 1834) || !strings.Contains(fmt.Sprintf("%v %+v", err, err), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
	s := open(t, df.targetDSN)
	if got := standbyOf(t, s, "Sales_copy"); got.State != engine.Absent {
		t.Errorf("Sales_copy exists after a refused restore: %+v", got)
	}
}

// A point in time is on the clock of the server that wrote the log: a
// primary in New York five hours behind a standby in UTC. Placed with the
// restoring server's offset, STOPAT lands five hours after the point and
// the drill proves data the operator did not ask for (row 4).
func TestSession_DrillStopAtIsOnThePrimarysClock(t *testing.T) {
	df := newDrillFixtureIn(t, "America/New_York")
	s := open(t, df.targetDSN)
	req := df.request("drsctl_drill_Sales_ny", df.full, df.log1, df.log2)
	req.StopAt = df.row3.Add(30 * time.Second) // after row 3, before row 4
	if _, err := s.(engine.Driller).Drill(context.Background(), req, engine.NoProgress); err != nil {
		t.Fatalf("drill: %v", err)
	}
	if got := df.dropped(t, "drsctl_drill_Sales_ny"); got != "[1 2 3]" {
		t.Errorf("STOPAT between rows 3 and 4 (primary in New York): the scratch database held %s, want [1 2 3]", got)
	}
}
