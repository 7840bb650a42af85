package plan

import (
	"strconv"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/state"
)

// BackupHealth is how recently a primary's database was backed up, from
// the ledger alone: status's alert in the manner of SQL Server log
// shipping's 14420 (no log backup within the backup threshold).
type BackupHealth struct {
	Primary  string
	Database string
	// Last is when the newest backup finished (see BackupFinished) and
	// Artifact its ID; zero and "" when the ledger holds none.
	Last     time.Time
	Artifact string
	// Age is now minus Last, never below zero.
	Age time.Duration
	// AlertAfter is the threshold (zero: never alert).
	AlertAfter time.Duration
	// Alert is set when the newest backup is older than AlertAfter, or
	// there is none at all: the database is not protected.
	Alert bool
}

// TargetHealth is what the ledger says of one target database beyond its
// RPO: when it last received something, whether a backup has waited for it
// too long (SQL Server's 14421), whether it was promoted, and its last
// restore drill.
type TargetHealth struct {
	Target   string
	Primary  string
	Database string
	Kind     config.TargetKind
	// Last is the newest restore on a standby (Restored.At), the newest
	// ship to a copy-only target; zero when none.
	Last time.Time
	// Waiting is since when a backup the target needs has been waiting for
	// it (restorable on a standby: its finish plus restore_delay); zero
	// when nothing waits, e.g. a standby that restored everything and whose
	// database is idle (empty log backups are never restored).
	Waiting time.Time
	// Overdue is how long past the later of Waiting and Last it is; zero
	// when nothing waits.
	Overdue    time.Duration
	AlertAfter time.Duration // zero: never alert
	Alert      bool
	// PromotedAt and PromotedHow when the database was promoted: it is
	// then shown, not alerted on.
	PromotedAt  *time.Time
	PromotedHow string
	// LastDrill and DrillOKAt are the ledger's. DrillAlert is set when
	// drill_alert_after is set and no drill passed within it.
	LastDrill       *state.Drill
	DrillOKAt       *time.Time
	DrillAlertAfter time.Duration
	DrillAlert      bool
	// Replayed is where a PostgreSQL standby's replay stands (confirmed
	// by pg_last_wal_replay_lsn when it was restored), and Unreplayed how
	// many bytes of WAL the primary's newest backup holds beyond it; both
	// zero for other engines, where positions are not byte counts.
	Replayed   artifact.LSN
	Unreplayed int64
}

// Health reads from the configuration and the ledger (no server is asked)
// how recently each configured database was backed up and each target
// database served, for monitoring. It is pure, as Make is.
func Health(cfg *config.Config, st *state.State, now time.Time) ([]BackupHealth, []TargetHealth) {
	if st == nil {
		st = state.New("")
	}
	now = now.UTC()
	var backups []BackupHealth
	for _, p := range cfg.Primaries {
		for _, db := range p.Databases {
			h := BackupHealth{Primary: p.Name, Database: db, AlertAfter: p.LogBackupAlert()}
			if a, at := newestBackup(st.LookupDatabase(p.Name, db), now); a != nil {
				h.Last, h.Artifact, h.Age = at, a.ID, max(now.Sub(at), 0)
			}
			h.Alert = h.AlertAfter > 0 && (h.Last.IsZero() || h.Age > h.AlertAfter)
			backups = append(backups, h)
		}
	}
	var targets []TargetHealth
	for _, t := range cfg.Targets {
		for _, db := range t.DatabaseNames() {
			targets = append(targets, targetHealth(t, db, st, now))
		}
	}
	return backups, targets
}

func targetHealth(t *config.Target, db string, st *state.State, now time.Time) TargetHealth {
	h := TargetHealth{Target: t.Name, Primary: t.Primary.Name, Database: db, Kind: t.Kind,
		AlertAfter: t.RestoreAlert(), DrillAlertAfter: t.DrillAlertAfter}
	led := st.LookupTargetDatabase(t.Name, db)
	if led != nil {
		h.PromotedAt, h.PromotedHow = led.PromotedAt, led.PromotedHow
		h.LastDrill, h.DrillOKAt = led.LastDrill, led.DrillOKAt
	}
	if h.DrillAlertAfter > 0 && h.PromotedAt == nil {
		h.DrillAlert = h.DrillOKAt == nil || now.Sub(*h.DrillOKAt) > h.DrillAlertAfter
	}
	if h.PromotedAt != nil {
		return h // a promoted database gets nothing more: nothing waits
	}
	d := st.LookupDatabase(t.Primary.Name, db)
	if d == nil {
		return h // nothing taken yet: the backup alert says so
	}
	if t.Primary.Engine == config.EnginePostgres && t.Restores() && led != nil && led.Restored != nil {
		h.Replayed = led.Restored.LastLSN
		h.Unreplayed = bytesBeyond(d, h.Replayed)
	}
	// after is the index in taken order of the newest backup the target
	// holds (-1: none); what it needs comes after it.
	after, delay := -1, time.Duration(0)
	if t.Restores() {
		delay = t.RestoreDelay
		if led != nil && led.Restored != nil {
			h.Last = led.Restored.At
			after = restoredIndex(d, led.Restored)
		}
	} else if led != nil {
		for id, cp := range led.Copies {
			if cp.ShippedAt.After(h.Last) {
				h.Last = cp.ShippedAt
			}
			if i := index(d, id); i > after {
				after = i
			}
		}
	}
	var next *state.Artifact
	if h.Last.IsZero() {
		// Never served: it waits for a seed from the newest full.
		for _, a := range d.Artifacts {
			if a.Kind == artifact.Full && a.PrunedAt == nil {
				next = a
			}
		}
	} else {
		for _, a := range d.Artifacts[after+1:] {
			if needed(a) {
				next = a
				break
			}
		}
	}
	if next == nil {
		return h
	}
	h.Waiting = takenAt(next).Add(delay)
	since := h.Waiting
	if h.Last.After(since) {
		since = h.Last
	}
	if t.Restores() && len(t.RestoreWindows) > 0 && !t.RestoreWindows.Open(since) {
		// It could not be restored before the restore window opened: a
		// reporting standby is not late at night for what waits for day.
		since = t.RestoreWindows.NextOpen(since)
	}
	h.Overdue = max(now.Sub(since), 0)
	h.Alert = h.AlertAfter > 0 && h.Overdue > h.AlertAfter
	return h
}

// needed reports whether a backup taken after the one a target holds must
// reach it: a log holding records, or the full that starts a new fork (the
// target is then seeded again). An empty log (an idle database) is never
// restored nor shipped, and a full on the same fork is not needed by a
// target whose chain continues.
func needed(a *state.Artifact) bool {
	if a.PrunedAt != nil {
		return false // gone before it was needed: the planner seeds again, from a newer full
	}
	if a.Kind == artifact.Full {
		return a.NewFork
	}
	return a.FirstLSN.Cmp(a.LastLSN) != 0
}

// restoredIndex is where the backup restored on a target stands in the
// database's taken order; when the ledger no longer holds it, after the
// newest backup its LSN reaches.
func restoredIndex(d *state.Database, r *state.Restore) int {
	if i := index(d, r.Artifact); i >= 0 {
		return i
	}
	at := -1
	for i, a := range d.Artifacts {
		if a.LastLSN.Cmp(r.LastLSN) <= 0 {
			at = i
		}
	}
	return at
}

func index(d *state.Database, id string) int {
	for i, a := range d.Artifacts {
		if a.ID == id {
			return i
		}
	}
	return -1
}

// newestBackup returns the database's most recent backup and when it
// finished. An adopted backup (taken outside drsctl, so with no time on
// drsctl's clock) dated after now is skipped: its server's clock is wrong,
// and believing it would silence the alert until that date.
func newestBackup(d *state.Database, now time.Time) (*state.Artifact, time.Time) {
	if d == nil {
		return nil, time.Time{}
	}
	var newest *state.Artifact
	var at time.Time
	for _, a := range d.Artifacts {
		t := BackupFinished(a)
		if a.Completed.IsZero() && t.After(now.Add(clockTolerance)) {
			continue
		}
		if newest == nil || t.After(at) {
			newest, at = a, t
		}
	}
	return newest, at
}

// takenAt is when a backup became available: drsctl's clock when drsctl
// took it, else its finish.
func takenAt(a *state.Artifact) time.Time {
	if !a.Completed.IsZero() {
		return a.Completed
	}
	return a.Header.Finish
}

// BackupFinished is when a backup in the ledger finished, by the rule RPO
// uses: the server's finish time while it agrees with drsctl's clock
// (Completed), never later than Completed.
func BackupFinished(a *state.Artifact) time.Time {
	return trustedFinish(a.Completed, a.Header.Start, a.Header.Finish)
}

// bytesBeyond is how far the newest backup of a database whose positions
// are byte counts (PostgreSQL LSNs) reaches past at.
func bytesBeyond(d *state.Database, at artifact.LSN) int64 {
	from, err := strconv.ParseUint(string(at), 10, 64)
	if err != nil {
		return 0
	}
	var n int64
	for _, a := range d.Artifacts {
		if a.CopyOnly || a.PrunedAt != nil {
			continue
		}
		if last, err := strconv.ParseUint(string(a.LastLSN), 10, 64); err == nil && last > from && int64(last-from) > n {
			n = int64(last - from)
		}
	}
	return n
}
