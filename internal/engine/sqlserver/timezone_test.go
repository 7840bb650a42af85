package sqlserver

import (
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// fakeClock is a settable clock for the simulators.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// wantTime checks a UTC time to datetime precision.
func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC || got.Sub(want).Abs() > 10*time.Millisecond {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

// The moments around Europe/Berlin's daylight saving changes in 2026
// (01:00 UTC on the last Sundays of March and October). In October, 00:30
// and 01:30 UTC are both 02:30 local.
var dstMoments = []struct {
	name   string
	before time.Time
	after  time.Time
}{
	{"March", utc("2026-03-29 00:30"), utc("2026-03-29 02:00")},
	{"October", utc("2026-10-25 00:30"), utc("2026-10-25 01:30")},
}

// TestBackupTimesAcrossDST: a primary in Europe/Berlin takes a full
// before and a log after a daylight saving change; Backup and
// ObservePrimary (the same backups read from msdb afterwards) give their
// real UTC times, and the database keeps its identity.
func TestBackupTimesAcrossDST(t *testing.T) {
	for _, m := range dstMoments {
		for _, v := range []struct {
			name    string
			version int
			header  string
			unknown bool
		}{
			{"2022", 16, "", false},
			{"2022-lying-TimeZone", 16, "+05:00", false},
			{"2019", 15, "", false},
			{"msdb-zone-unknown", 16, "", true},
		} {
			t.Run(m.name+"/"+v.name, func(t *testing.T) {
				clock := &fakeClock{t: m.before.Add(-time.Hour)}
				f := simFixture(t, simOptions{now: clock.Now, primaryZone: "Europe/Berlin",
					primaryVersion: v.version, primaryHeaderZone: v.header, unknownZone: v.unknown})
				s := open(t, f.primaryDSN)
				f.createDatabase(t, "Sales")
				before := primaryOf(t, s, "Sales", time.Time{})

				clock.Set(m.before)
				full := f.backup(t, s, "Sales", artifact.Full, "full.bak")
				wantTime(t, "full start", full.Start, m.before)
				wantTime(t, "full finish", full.Finish, m.before)

				clock.Set(m.after)
				insert(t, f.primary, "Sales", 1)
				log := f.backup(t, s, "Sales", artifact.Log, "log.trn")
				wantTime(t, "log start", log.Start, m.after)
				wantTime(t, "log finish", log.Finish, m.after)

				after := primaryOf(t, s, "Sales", m.before.Add(-time.Minute))
				if after.Identity == "" || after.Identity != before.Identity {
					t.Errorf("identity %q before the change, %q after", before.Identity, after.Identity)
				}
				if v.unknown {
					return // msdb does not say which offset; only today's is left
				}
				if len(after.Backups) != 2 {
					t.Fatalf("backups since the full: %+v", after.Backups)
				}
				wantTime(t, "full in msdb", after.Backups[0].Finish, m.before)
				wantTime(t, "log in msdb", after.Backups[1].Finish, m.after)
				// Backups before `since` are left out, wherever the offset was.
				later := primaryOf(t, s, "Sales", m.before.Add(time.Minute))
				if len(later.Backups) != 1 || later.Backups[0].Kind != artifact.Log {
					t.Errorf("backups since a minute after the full: %+v", later.Backups)
				}
			})
		}
	}
}

// TestIdentityChangesWhenRecreated: the identity is what tells a new
// database from the old one.
func TestIdentityChangesWhenRecreated(t *testing.T) {
	f := simFixture(t, simOptions{primaryZone: "Europe/Berlin"})
	s := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	first := primaryOf(t, s, "Sales", time.Time{})
	exec(t, f.primary, "DROP DATABASE [Sales]")
	f.createDatabase(t, "Sales")
	second := primaryOf(t, s, "Sales", time.Time{})
	if first.Identity == "" || second.Identity == "" || first.Identity == second.Identity {
		t.Errorf("identity %q, then %q after DROP and CREATE", first.Identity, second.Identity)
	}
}
