// Package engine is the contract between drsctl's core and a database engine
// (SQL Server now, PostgreSQL later). The core never imports an engine
// package: engines register a Driver in a Registry, wired in one place
// (internal/wiring), and the core asks the registry by the name in the
// configuration.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// Driver connects to servers of one engine.
type Driver interface {
	// Open connects to the server a connection string names. The connection
	// string is a secret: errors must not contain it.
	Open(ctx context.Context, connection string) (Session, error)
}

// Session is one connection to one server, used either as a primary or as a
// standby. Every method honours ctx: a cancelled context or a dead server
// ends the call with an error, never a hang. A Session is safe for
// concurrent use: apply works on several databases of one server at once.
type Session interface {
	// ObservePrimary describes each named database as a primary: whether it
	// exists, its state and recovery model, and the backups the server knows
	// were taken of it since `since` (by drsctl or anyone else). A database
	// that does not exist is reported with Exists=false, not as an error.
	ObservePrimary(ctx context.Context, databases []string, since time.Time) ([]PrimaryDatabase, error)

	// Backup takes a full or log backup to req.ServerPath (a path or URL as the
	// server sees it) and returns the artifact's header as the server wrote
	// it. It must not overwrite an existing backup of another chain silently.
	Backup(ctx context.Context, req BackupRequest, progress Progress) (artifact.Header, error)

	// Describe reads the header of a backup file the server can reach.
	Describe(ctx context.Context, serverPath string) (artifact.Header, error)

	// ObserveStandby describes each named database as a standby: absent,
	// restoring, standby (read-only) or online, and where its restores stand.
	ObserveStandby(ctx context.Context, databases []string) ([]StandbyDatabase, error)

	// Restore restores one full or log backup, leaving the database in
	// req.Mode. It returns an error wrapping ErrInUse when readers hold the
	// database and ErrChain when the server refuses the backup's place in the
	// chain (too early, too recent, another recovery path).
	Restore(ctx context.Context, req RestoreRequest, progress Progress) error

	// Recover brings a restoring or standby database online (promotion). It
	// returns an error wrapping ErrInUse when sessions hold the database and
	// req.DisconnectUsers is false.
	Recover(ctx context.Context, req RecoverRequest) error

	Close() error
}

// Advisor is a Session that can tell, before anything is done, what an
// operator should know about the connection and its login: a certificate
// that is not verified, a permission the server will refuse. Advise does
// not fail: what it cannot check, it says it could not check. Advice is
// never a secret's carrier: no connection string, no password.
type Advisor interface {
	Advise(ctx context.Context, req AdviceRequest) []Advice
}

// AdviceRequest says what the session will be asked to do.
type AdviceRequest struct {
	// Primary: back up Databases; otherwise restore them (a standby).
	Primary   bool
	Databases []string
	// DisconnectUsers: the standby ends readers' sessions.
	DisconnectUsers bool
}

// Advice is one thing to know, and what to do about it.
type Advice struct {
	Summary string // "login [drs] cannot BACKUP DATABASE [Sales]"
	Detail  string // the statement or setting that fixes it
}

// PrimaryDatabase is what a primary server says about one database.
type PrimaryDatabase struct {
	Name          string
	Exists        bool
	State         string // ONLINE, RESTORING, OFFLINE… as the server words it
	RecoveryModel string // FULL, BULK_LOGGED, SIMPLE
	// CreatedAt changes when the database is recreated or restored over on
	// the primary: a new database needs a new chain.
	CreatedAt time.Time
	// Identity identifies this incarnation of the database and changes when
	// it is recreated or restored over (SQL Server: the recovery fork GUID);
	// empty when the engine cannot tell. Unlike CreatedAt it does not move
	// with time zones or daylight saving.
	Identity string
	// LogChain is false when the server has no log chain for the database (no
	// full backup since the FULL recovery model began): BACKUP LOG would fail.
	LogChain bool
	// ChainLSN is where the server's log chain stands: where the next log
	// backup begins (SQL Server: sys.database_recovery_status.
	// last_log_backup_lsn); empty without a chain. With it the planner
	// tells a recovery that carries the chain on (a new recovery fork at
	// the chain's end: Identity changes, nothing restarts) from a restart.
	ChainLSN artifact.LSN
	// Retained is the WAL the server keeps for drsctl (PostgreSQL's
	// replication slot); nil for an engine that keeps nothing for it.
	Retained *Retention
	// NoChainWhy says, in the engine's words, why LogChain is false
	// ("replication slot drsctl is missing"); empty for the default reason.
	NoChainWhy string
	// Backups are the backups the server recorded (msdb), oldest first.
	Backups []BackupRecord
}

// Retention is what a primary keeps for drsctl's next log backup.
type Retention struct {
	// Bytes is how much log the server holds for drsctl.
	Bytes int64 `json:"bytes"`
	// SafeBytes is how much more may be written before the server drops
	// what it holds (PostgreSQL: max_slot_wal_keep_size); -1: unbounded,
	// so a stalled drsctl lets it fill the server's disk.
	SafeBytes int64 `json:"safe_bytes"`
	// Status is the server's word for it (PostgreSQL wal_status: reserved,
	// extended, unreserved — about to be dropped — or lost).
	Status string `json:"status,omitempty"`
}

// PrimaryReadOnly is the State of a primary database whose writes a
// planned switchover stopped and which can still take the final log
// backup (PostgreSQL: default_transaction_read_only). A switchover killed
// after that is finished by running it again: nothing can have been
// written since.
const PrimaryReadOnly = "READ ONLY"

// BackupRecord is one backup as the server's history records it.
type BackupRecord struct {
	artifact.Header
	// Path is where the server wrote it (physical device name).
	Path string
}

// StandbyState is where a standby database stands.
type StandbyState string

const (
	Absent    StandbyState = "absent"
	Restoring StandbyState = "restoring" // NORECOVERY: no reads
	Standby   StandbyState = "standby"   // read-only between restores
	Online    StandbyState = "online"    // recovered: no more restores possible
	Other     StandbyState = "other"     // RECOVERY_PENDING, SUSPECT, OFFLINE…
)

// StandbyDatabase is what a standby server says about one database.
type StandbyDatabase struct {
	Name     string
	State    StandbyState
	RawState string // the server's own words, for messages
	// RedoLSN is where the next log restore must begin (the LastLSN of the
	// last backup restored); empty when the database is absent or online,
	// or when the server cannot say. SQL Server: from msdb's restore
	// history of this incarnation of the database, else redo_start_lsn.
	RedoLSN artifact.LSN
	// LastRestore is the newest full or log restore the server's history
	// records of this incarnation of the database (not of an older
	// database of the same name, dropped since).
	LastRestore *RestoreRecord
	// ServerRedoLSN is a second answer, for diagnostics only, when the
	// engine has one (SQL Server: sys.master_files.redo_start_lsn, which is
	// documented only for a RESTORING database). When it differs from
	// RedoLSN, the server's next RESTORE LOG decides where the database
	// really stands (ErrAlreadyRestored or ErrChain): a disagreement alone
	// is never a reason to seed again.
	ServerRedoLSN artifact.LSN
	// SeedRestore is the newest full restore the server's history records
	// of this incarnation of the database: the full backup it was seeded
	// from (nil when the history has none, e.g. cleaned up). `drsctl state
	// rebuild` adopts a standby as drsctl's only when this is one of
	// drsctl's own full backups.
	SeedRestore *RestoreRecord
}

// Disagrees reports whether the server gave two different positions.
func (d StandbyDatabase) Disagrees() bool {
	return !d.ServerRedoLSN.IsZero() && !d.RedoLSN.IsZero() && d.ServerRedoLSN.Cmp(d.RedoLSN) != 0
}

// RestoreRecord is one restore from the server's history.
type RestoreRecord struct {
	At       time.Time
	Kind     artifact.Kind
	FirstLSN artifact.LSN
	LastLSN  artifact.LSN
	Path     string
	// FamilyGUID is the restored backup's family (empty when the engine
	// does not say).
	FamilyGUID string
}

// RestoreMode is how a standby is left after a restore.
type RestoreMode string

const (
	NoRecovery  RestoreMode = "norecovery"
	StandbyMode RestoreMode = "standby"
)

// BackupRequest asks for one backup.
type BackupRequest struct {
	Database    string
	Kind        artifact.Kind
	ServerPath  string // full path or URL of the file, as the server sees it
	Compression bool
	Credential  string // server-side credential name for URL backups
	CopyOnly    bool
	// NoRecovery takes a tail-log backup that leaves the database restoring
	// (planned switchover). It needs the database alone: sessions using it
	// make it fail with ErrInUse unless DisconnectUsers ends them first.
	NoRecovery      bool
	DisconnectUsers bool
	// From is where drsctl's log chain stands in the ledger: the LastLSN of
	// the newest log backup of the current chain, or the FirstLSN of its
	// full when no log follows it yet; empty when unknown. An engine that
	// takes log from a position it keeps on the server (PostgreSQL's
	// replication slot) begins there, so a backup whose record was lost
	// is taken again rather than leaving a gap.
	From artifact.LSN
	// Sink receives the backup's bytes when the session carries them itself
	// (a Carrier); nil otherwise.
	Sink Sink
	// MaxStripes is how many URLs the caller can carry a backup across
	// (artifact.StripePath names them after ServerPath, the first). A URL
	// backup sized for more than one URL is striped across as many as it
	// needs up to this; 0 or 1: refused instead, before it starts. The
	// header returned says how many were written (Header.Stripes).
	MaxStripes int
}

// RecoverRequest asks to bring a standby database online.
type RecoverRequest struct {
	Database string
	// DisconnectUsers ends the sessions using the database first: RECOVERY
	// needs it alone, and readers of a STANDBY database hold it.
	DisconnectUsers bool
}

// RestoreRequest asks for one restore.
type RestoreRequest struct {
	Database   string
	Kind       artifact.Kind
	ServerPath string
	// Stripes is how many files the backup was striped across (its
	// Header.Stripes): ServerPath is the first, artifact.StripePath names
	// the others. 0 or 1: one file.
	Stripes int
	Mode    RestoreMode
	// UndoFile is the STANDBY undo file. Empty: the engine puts it where
	// only that server writes (SQL Server: its default data directory).
	UndoFile string
	// DataDir and LogDir are where the restore puts files (MOVE): every
	// file of a full, and the files a log creates (ALTER DATABASE … ADD
	// FILE on the primary). Empty: the server's default data and log
	// paths, never the primary's.
	DataDir string
	LogDir  string
	// Replace may overwrite an existing database; only ever set for a
	// database drsctl seeded itself.
	Replace bool
	// DisconnectUsers ends the sessions holding the database before
	// restoring, however they hold it (as their current database, or in a
	// transaction that read it by a three-part name), and keeps new ones
	// out until the restore is done.
	DisconnectUsers bool
	Credential      string
	// FirstLSN and LastLSN are the backup's, as its header says (the
	// ledger's record of it).
	FirstLSN, LastLSN artifact.LSN
	// Source opens the copy to restore, for a session that carries backups
	// itself (a Carrier); nil otherwise. Each call reads it from the start.
	Source func(ctx context.Context) (io.ReadCloser, error)
}

// Carrier is a Session whose backups drsctl carries itself instead of the
// server writing and reading files at a path it can reach: PostgreSQL's
// base backups and WAL arrive through the replication protocol, and a
// standby's data directory is on the host drsctl runs on. The core then
// hands Backup a Sink into the backup folder and Restore a Source at the
// target's destination.
type Carrier interface {
	CarriesBackups()
}

// Sink is where a Carrier writes a backup. Nothing is stored under the
// artifact's name until Commit returns nil; Abort (or a failed Commit)
// leaves nothing there.
type Sink interface {
	io.Writer
	Commit() error
	Abort(cause error)
}

// Site is what a driver may need to know about where a server keeps its
// files beyond its connection: a PostgreSQL standby runs from a data
// directory on the host drsctl runs on.
type Site struct {
	// DataDir is the target's data_dir (empty for a primary).
	DataDir string
	// Owner names the ledger the session works for (its lineage). What an
	// engine keeps on a server for drsctl (PostgreSQL: the replication
	// slot holding the WAL not yet backed up) it keeps under a name of
	// this owner's, so two configurations protecting one server never
	// move each other's position. Empty: the engine's default name.
	Owner string
}

// SiteDriver is a Driver that opens sessions for a site.
type SiteDriver interface {
	OpenSite(ctx context.Context, connection string, site Site) (Session, error)
}

// Progress receives progress of long operations. Implementations must be
// safe for concurrent use.
type Progress interface {
	// Step reports percent done (0–100) and what the server said beyond
	// the percentage (empty when it said nothing more).
	Step(percent int, message string)
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(percent int, message string)

func (f ProgressFunc) Step(percent int, message string) { f(percent, message) }

// NoProgress discards progress.
var NoProgress Progress = ProgressFunc(func(int, string) {})

var (
	// ErrInUse means readers hold the database; the restore can be retried
	// once they are gone (SQL Server error 3101).
	ErrInUse = errors.New("database in use")
	// ErrChain means the server refused a backup's place in the chain (SQL
	// Server errors 4305, 4326, 4330, 3117; 4319 and 4333 when an
	// interrupted restore left the database with nothing to roll forward):
	// never retried blindly. From Backup, it means the server can no
	// longer continue drsctl's log chain from BackupRequest.From
	// (PostgreSQL: the WAL since was released): the chain restarts.
	ErrChain = errors.New("backup does not fit the chain")
	// ErrIncompatible means the target server cannot restore the backup as
	// asked, however often it is retried: it comes from a newer SQL Server
	// version (SQL Server error 3169), or STANDBY was asked of a backup the
	// restore has to upgrade (3180). The operator changes the server or the
	// target's restore mode.
	ErrIncompatible = errors.New("backup incompatible with the target server")
	// ErrAlreadyRestored means the server refused a log backup because the
	// database is already past its end (SQL Server error 4326: "too early
	// to apply"): the log is behind it, and the next one is due. It wraps
	// ErrChain.
	ErrAlreadyRestored = fmt.Errorf("%w: the database is already past the end of this log backup", ErrChain)
	// ErrDamaged means the server could not read the backup file it was
	// given: missing, unreadable or damaged (SQL Server errors 3201, 3203,
	// 3183, 3189, 3241). The copy is proven again before it is used again.
	ErrDamaged = errors.New("backup file unreadable")
	// ErrUnreachable means the server could not be reached or stopped
	// answering.
	ErrUnreachable = errors.New("server unreachable")
)

// Registry maps engine names (as written in configuration) to drivers.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{drivers: map[string]Driver{}} }

// Register adds a driver; registering a name twice is a programming error.
func (r *Registry) Register(name string, d Driver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[name]; dup {
		panic(fmt.Sprintf("engine: driver %q registered twice", name))
	}
	r.drivers[name] = d
}

// Driver returns the driver for name.
func (r *Registry) Driver(name string) (Driver, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.drivers[name]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q (known: %v)", name, r.namesLocked())
	}
	return d, nil
}

// Names lists the registered engines, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

func (r *Registry) namesLocked() []string {
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
