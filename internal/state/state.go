// Package state is drsctl's ledger: which artifacts exist, where each was
// shipped and verified, what each target has restored. This file holds the
// domain types; the on-disk format and its persistence live beside them
// (statefile.go, local.go) and are separate from these types on purpose, so
// the format can be versioned and upgraded without touching plan or apply.
package state

import (
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// State is the whole ledger.
type State struct {
	// Lineage is set once when the state is created; a plan made from one
	// lineage is never applied to another.
	Lineage string
	// Serial increases with every write.
	Serial uint64
	// Primaries by configuration name.
	Primaries map[string]*Primary
	// Targets by configuration name.
	Targets map[string]*Target

	// track is what changed since the last journal entry, while tracked
	// (journal.go).
	track *changes
}

// New returns an empty state with the given lineage.
func New(lineage string) *State {
	return &State{Lineage: lineage, Primaries: map[string]*Primary{}, Targets: map[string]*Target{}}
}

// Primary is the ledger of one primary server.
type Primary struct {
	Databases map[string]*Database
}

// Database is the ledger of one database on a primary.
type Database struct {
	// RecoveryModel and CreatedAt as last observed: a change means the log
	// chain was broken on the primary.
	RecoveryModel string
	CreatedAt     time.Time
	// Identity is the engine's identity of the database incarnation as last
	// observed (e.g. SQL Server's recovery fork GUID); empty when the engine
	// does not report one. A change means the database was recreated or
	// restored over on the primary.
	Identity string
	// Restart says why the database's log chain restarted on the primary,
	// from when drsctl decided so until a full backup recorded with NewFork
	// begins the new fork. It outlives a full backup whose reply was lost:
	// that full is then adopted as the fork's start.
	Restart string
	// Artifacts in the order they were taken (drsctl's own backups are
	// appended; an adopted out-of-band backup is placed by its finish time).
	Artifacts []*Artifact
}

// Artifact is one backup file in the primary's backup folder.
type Artifact struct {
	// ID is unique within the database: the artifact's file name.
	ID string
	artifact.Header
	// Key is the object key in the backup folder (and at every destination).
	Key    string
	Size   int64
	SHA256 string // hex
	// OutOfBand marks a backup taken outside drsctl and adopted into the
	// chain because its file was found in the backup folder.
	OutOfBand bool
	// PrunedAt is set when the file was removed from the backup folder.
	PrunedAt *time.Time
	// DamagedAt is set when the backup folder's file was read and no longer
	// matched SHA256: it is never shipped again.
	DamagedAt *time.Time
	// NewFork marks a backup taken after the database's log chain restarted
	// on the primary (recreated, restored over, recovery model switched):
	// nothing taken before it continues into it or after it.
	NewFork bool
	// Completed is drsctl's clock when the server reported the backup done
	// (zero for adopted backups). The finish time in the header is the
	// server's clock; RPO never trusts a finish later than Completed.
	Completed time.Time
	// More are the files after the first (Key, Size, SHA256) of a backup
	// striped across several (Header.Stripes of them, named by
	// artifact.StripePath after Key). The artifact is whole only with all
	// of them: each is shipped, verified and pruned with it.
	More []Stripe
}

// Stripe is one file of a striped artifact.
type Stripe struct {
	Key    string
	Size   int64
	SHA256 string
}

// Files are the artifact's files: Key first, then its other stripes.
func (a *Artifact) Files() []Stripe {
	return append([]Stripe{{Key: a.Key, Size: a.Size, SHA256: a.SHA256}}, a.More...)
}

// TotalSize is the size of all the artifact's files.
func (a *Artifact) TotalSize() int64 {
	n := a.Size
	for _, s := range a.More {
		n += s.Size
	}
	return n
}

// Target is the ledger of one target.
type Target struct {
	Databases map[string]*TargetDatabase
}

// TargetDatabase is the ledger of one database on a target.
type TargetDatabase struct {
	// SeededFrom is the ID of the full backup the database was seeded from
	// by drsctl; empty when drsctl never seeded it. Only a database drsctl
	// seeded may ever be restored over (REPLACE).
	SeededFrom string
	// Seeding is the ID of the full backup whose seed restore drsctl started
	// and has not yet seen complete. It makes the database drsctl's own: an
	// interrupted seed may be restored over (REPLACE), and a seed whose reply
	// was lost is recorded once the server shows it stands after that full.
	Seeding string
	// Copies shipped to the target's destination, by artifact ID.
	Copies map[string]*Copy
	// Restored is the newest backup restored there.
	Restored *Restore
	// PromotedAt is set once the database was recovered (promoted): it gets
	// no more restores.
	PromotedAt *time.Time
	// PromotedHow says how: PromotePlanned (a switchover after a tail-log
	// backup), PromoteUnplanned (a failover), or PromoteRecorded (found
	// online, recovered outside drsctl, and recorded).
	PromotedHow string
	// PromotedLSN is where the database stood when it was recovered: the
	// last LSN restored (zero when unknown).
	PromotedLSN artifact.LSN
	// ReprotectAt is set by `drsctl reprotect`: the operator allows drsctl to
	// restore over the (online) database to protect it again. It is cleared
	// by the seed that does so.
	ReprotectAt *time.Time
	// LastDrill is the newest restore drill of this database on the target;
	// DrillOKAt is when the newest one that passed ran.
	LastDrill *Drill
	DrillOKAt *time.Time
}

// How a target database was promoted.
const (
	PromotePlanned   = "planned"
	PromoteUnplanned = "unplanned"
	PromoteRecorded  = "recorded"
)

// Drill is one restore drill: the chain restored into a scratch database
// WITH RECOVERY, checked and dropped. The standby itself is never touched.
type Drill struct {
	At       time.Time
	Duration time.Duration
	// Artifact is the newest backup the drill restored and Through its
	// finish: how recent the data the drill proved is.
	Artifact string
	Through  time.Time
	// StopAt is the point in time asked for (-at), zero for the newest.
	StopAt time.Time
	OK     bool
	Check  string // what was checked and what it found, in the engine's words
	Error  string // why it failed (redacted)
}

// Copy is one artifact at a target's destination.
type Copy struct {
	Key       string
	Size      int64
	SHA256    string
	ShippedAt time.Time
	// VerifiedAt is set when the copy was read back and matched SHA256.
	VerifiedAt *time.Time
	// ModTime is the copy's modification time as storage reported it when
	// it was verified: a later change means the copy was touched since.
	ModTime time.Time
}

// Restore records a backup restored on a target.
type Restore struct {
	Artifact string // artifact ID
	Kind     artifact.Kind
	LastLSN  artifact.LSN
	Mode     string // "standby" or "norecovery"
	At       time.Time
}

// Primary returns the ledger of a primary, creating it when absent. Its
// databases are reached through Database: a change made through the
// Primary itself is not tracked, so the next journal entry of a tracked
// state holds the whole ledger.
func (s *State) Primary(name string) *Primary {
	s.touchAll()
	return s.primary(name)
}

func (s *State) primary(name string) *Primary {
	p := s.Primaries[name]
	if p == nil {
		p = &Primary{Databases: map[string]*Database{}}
		s.Primaries[name] = p
	}
	return p
}

// Database returns the ledger of a primary's database, creating it when absent.
func (s *State) Database(primary, database string) *Database {
	s.touchDatabase(primary, database)
	p := s.primary(primary)
	d := p.Databases[database]
	if d == nil {
		d = &Database{}
		p.Databases[database] = d
	}
	return d
}

// LookupDatabase returns the ledger of a primary's database or nil.
func (s *State) LookupDatabase(primary, database string) *Database {
	s.touchDatabase(primary, database)
	return s.lookupDatabaseQuiet(primary, database)
}

func (s *State) lookupDatabaseQuiet(primary, database string) *Database {
	if p := s.Primaries[primary]; p != nil {
		return p.Databases[database]
	}
	return nil
}

// Target returns the ledger of a target, creating it when absent. As with
// Primary, changes made through it directly are not tracked.
func (s *State) Target(name string) *Target {
	s.touchAll()
	return s.target(name)
}

func (s *State) target(name string) *Target {
	t := s.Targets[name]
	if t == nil {
		t = &Target{Databases: map[string]*TargetDatabase{}}
		s.Targets[name] = t
	}
	return t
}

// TargetDatabase returns the ledger of a target's database, creating it when
// absent.
func (s *State) TargetDatabase(target, database string) *TargetDatabase {
	s.touchTargetDatabase(target, database)
	t := s.target(target)
	d := t.Databases[database]
	if d == nil {
		d = &TargetDatabase{Copies: map[string]*Copy{}}
		t.Databases[database] = d
	}
	if d.Copies == nil {
		d.Copies = map[string]*Copy{}
	}
	return d
}

// LookupTargetDatabase returns the ledger of a target's database or nil.
func (s *State) LookupTargetDatabase(target, database string) *TargetDatabase {
	s.touchTargetDatabase(target, database)
	return s.lookupTargetDatabaseQuiet(target, database)
}

func (s *State) lookupTargetDatabaseQuiet(target, database string) *TargetDatabase {
	if t := s.Targets[target]; t != nil {
		return t.Databases[database]
	}
	return nil
}

// Artifact returns the artifact with the given ID or nil.
func (d *Database) Artifact(id string) *Artifact {
	if d == nil {
		return nil
	}
	for _, a := range d.Artifacts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// Add records an artifact in the order it was taken. drsctl's own backups
// are appended: a database's backups never run concurrently, so arrival
// order is taken order even when a server's clock jumps. An adopted
// out-of-band backup was taken earlier by someone else; it goes where its
// LSNs put it (after the newest backup that ends at or before its end), not
// where its finish time would: a server clock that was wrong must not
// reorder the chain.
func (d *Database) Add(a *Artifact) {
	if !a.OutOfBand {
		d.Artifacts = append(d.Artifacts, a)
		return
	}
	i := PlaceByLSN(len(d.Artifacts), func(j int) artifact.Header { return d.Artifacts[j].Header }, a.Header)
	d.Artifacts = append(d.Artifacts, nil)
	copy(d.Artifacts[i+1:], d.Artifacts[i:])
	d.Artifacts[i] = a
}

// PlaceByLSN returns where a backup h goes among n backups in taken order:
// after the newest one that ends before it, or ends where it does but
// begins no later (an empty log at LSN x follows the log that ends at x).
// LSNs only grow within a fork, so searching from the newest end finds its
// place in the newest fork it fits.
func PlaceByLSN(n int, at func(int) artifact.Header, h artifact.Header) int {
	for j := n - 1; j >= 0; j-- {
		x := at(j)
		if c := x.LastLSN.Cmp(h.LastLSN); c < 0 || c == 0 && x.FirstLSN.Cmp(h.FirstLSN) <= 0 {
			return j + 1
		}
	}
	return 0
}
