package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// driverSeq numbers drivers so that identifiers (family and fork IDs) never
// collide between two drivers of one test binary.
var driverSeq atomic.Uint64

// Driver serves in-memory servers by name: the connection string is
// "mem://NAME".
type Driver struct {
	mu      sync.Mutex
	servers map[string]*Server
	// Now is the clock used for backup times (default time.Now). Each
	// server's clock is this one plus its offset (SetClockOffset).
	Now func() time.Time

	id  uint64
	seq atomic.Uint64
}

// NewDriver returns a driver with no servers.
func NewDriver() *Driver {
	return &Driver{servers: map[string]*Server{}, id: driverSeq.Add(1)}
}

// Server returns (creating) the named server.
func (d *Driver) Server(name string) *Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.servers == nil {
		d.servers = map[string]*Server{}
	}
	s := d.servers[name]
	if s == nil {
		s = &Server{drv: d, name: name, dbs: map[string]*database{}, now: d.now, failures: map[string][]failure{},
			restores: map[string][]engine.RestoreRecord{}, restoreFamily: map[string][]string{}, calls: map[string]int{}, tear: map[string]bool{}, readers: map[string]int{}}
		d.servers[name] = s
	}
	return s
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// newID returns a new GUID-shaped identifier, unique within the process and
// deterministic for a driver used sequentially.
func (d *Driver) newID() string {
	n := d.seq.Add(1)
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(d.id), n)
}

// Open implements engine.Driver.
func (d *Driver) Open(ctx context.Context, connection string) (engine.Session, error) {
	name, ok := strings.CutPrefix(connection, "mem://")
	if !ok || name == "" {
		return nil, errors.New("memory engine: connection must look like mem://NAME")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := d.Server(name)
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, fmt.Errorf("connect to %s: %w", name, engine.ErrUnreachable)
	}
	return &session{s: s}, nil
}

// Origin says how a database came to exist on a server.
type Origin string

const (
	// Created: by Create (a DBA's CREATE DATABASE).
	Created Origin = "created"
	// Restored: by a restore request (RESTORE DATABASE), complete or torn.
	Restored Origin = "restored"
	// Recovered: it was restoring (or standby) and was brought online.
	Recovered Origin = "recovered"
)

// Fork is one recovery fork of a database: the log written from StartLSN
// on (until the next fork begins) belongs to it.
type Fork struct {
	ID       string
	StartLSN artifact.LSN
}

// RestoreEvent is one restore request as the server's audit log saw it,
// whatever its outcome.
type RestoreEvent struct {
	Database string
	// Kind is the kind of the backup in the file (the requested kind when
	// the file could not be read).
	Kind     artifact.Kind
	Path     string
	Mode     engine.RestoreMode
	Replace  bool
	FirstLSN artifact.LSN
	LastLSN  artifact.LSN
	// Err is the error returned to the caller; "" on success.
	Err string
	// Done is true when the restore took effect, also when its reply was
	// lost afterwards (FailNext with after=true).
	Done bool
	// Torn is true when the restore was interrupted midway (TearNextRestore)
	// and left the database unusable.
	Torn bool
	// ReplacedState is the state of the database that existed before the
	// request (Absent if none); ReplacedOrigin how it came to exist ("" if
	// none); ReplacedTorn whether it was a torn restore.
	ReplacedState  engine.StandbyState
	ReplacedOrigin Origin
	ReplacedTorn   bool
	// At is the server's clock when the request arrived.
	At time.Time
}

// DatabaseInfo is what the oracle accessor Database reports: the truth,
// not what an observation through a session would say.
type DatabaseInfo struct {
	Name          string
	State         engine.StandbyState
	RecoveryModel string
	ReadOnly      bool
	// RedoLSN is where the next log restore must begin (restoring or
	// standby); empty when online or torn.
	RedoLSN artifact.LSN
	// NextLSN is the LSN the next log record will get.
	NextLSN artifact.LSN
	// ChainLSN is where the next log backup begins; empty when there is no
	// log chain (no full backup since FULL recovery began).
	ChainLSN artifact.LSN
	// Family is the database family GUID (constant across restores).
	Family string
	// Fork is the current recovery fork ID; Forks the whole history.
	Fork  string
	Forks []Fork
	Rows  []int
	// Origin says how the database came to exist; Torn that a full restore
	// into it was interrupted.
	Origin    Origin
	Torn      bool
	CreatedAt time.Time
	Readers   int
}

// Server is one in-memory database server.
type Server struct {
	mu       sync.Mutex
	drv      *Driver
	name     string
	dbs      map[string]*database
	history  []engine.BackupRecord
	restores map[string][]engine.RestoreRecord
	// restoreFamily is the family GUID of each restore's backup set,
	// beside restores.
	restoreFamily map[string][]string
	audit         []RestoreEvent
	now           func() time.Time
	offset        time.Duration
	down          bool
	failures      map[string][]failure
	// calls counts operations by name ("backup", "restore", …).
	calls map[string]int
	// tear marks databases whose next full restore is interrupted.
	tear         map[string]bool
	readers      map[string]int
	drillLog     []DrillEvent // Drill, for Drills
	hideIdentity bool
	createShift  time.Duration
}

type failure struct {
	db    string
	after bool // fail after doing the work (the reply was lost)
	err   error
}

type database struct {
	name     string
	model    string
	created  time.Time
	state    engine.StandbyState // Online for primaries
	next     *big.Int            // the LSN the next log record gets
	chain    artifact.LSN        // where the next log backup begins; "" = no chain
	family   string
	forks    []Fork
	redo     artifact.LSN // restoring/standby: where the next log restore begins
	rows     []row
	readOnly bool
	origin   Origin
	torn     bool
	// ckpt is the most recent checkpoint; lastFull the checkpoint of the
	// last full backup that was not COPY_ONLY (the differential base).
	ckpt     artifact.LSN
	lastFull artifact.LSN
}

type row struct {
	ID  int
	LSN artifact.LSN
}

// backupFile is what the double writes as a backup file. Header is what
// RESTORE HEADERONLY would say; the rest is what the backup set carries
// besides (the recovery path it was taken on, the recovery model).
type backupFile struct {
	Header artifact.Header
	Rows   []row
	// Forks is the source database's recovery fork history at backup time,
	// oldest first (backupset.first_recovery_fork_guid,
	// last_recovery_fork_guid and fork_point_lsn are derived from it).
	Forks         []Fork `json:",omitempty"`
	RecoveryModel string `json:",omitempty"`
	ServerName    string `json:",omitempty"`
	// DatabaseCreated is the source's create date (HEADERONLY
	// DatabaseCreationDate).
	DatabaseCreated time.Time
}

// lsn helpers: LSNs are decimal strings of any length.
func lsnOf(n *big.Int) artifact.LSN { return artifact.LSN(n.String()) }

func bigOf(l artifact.LSN) *big.Int {
	n, ok := new(big.Int).SetString(string(l), 10)
	if !ok {
		return new(big.Int)
	}
	return n
}

// clock is the server's clock: the driver's plus the offset, in UTC.
func (s *Server) clock() time.Time { return s.now().Add(s.offset).UTC() }

func (s *Server) newID() string { return s.drv.newID() }

// forkAt returns the ID of the fork that wrote the log just before lsn: the
// last fork that began before lsn, or the first fork. A database standing
// exactly at a fork point is therefore still on the older fork and can
// follow either.
func forkAt(forks []Fork, lsn artifact.LSN) string {
	if len(forks) == 0 {
		return ""
	}
	id := forks[0].ID
	for _, f := range forks[1:] {
		if f.StartLSN.Cmp(lsn) >= 0 {
			break
		}
		id = f.ID
	}
	return id
}

func (d *database) currentFork() string {
	if len(d.forks) == 0 {
		return ""
	}
	return d.forks[len(d.forks)-1].ID
}

// Create creates an online database in FULL recovery whose LSNs start at
// base (a decimal string, may exceed int64). It is a DBA's CREATE DATABASE:
// a database of that name that existed is dropped first. The new database
// has a new family and begins a new recovery fork at base.
func (s *Server) Create(name, base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := new(big.Int).SetString(base, 10)
	if !ok || n.Sign() < 0 {
		panic("enginetest: bad LSN base " + base)
	}
	s.dbs[name] = &database{name: name, model: "FULL", created: s.clock(), state: engine.Online, next: n,
		family: s.newID(), forks: []Fork{{ID: s.newID(), StartLSN: lsnOf(n)}}, origin: Created}
}

// Insert writes rows on a database, one log record each, advancing its LSN.
func (s *Server) Insert(db string, ids ...int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.writable(db)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", db, err)
	}
	for _, id := range ids {
		d.rows = append(d.rows, row{ID: id, LSN: lsnOf(d.next)})
		d.next.Add(d.next, big.NewInt(1))
	}
	return nil
}

// Write writes one log record on a database without a row (any change that
// is logged), advancing its LSN.
func (s *Server) Write(db string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.writable(db)
	if err != nil {
		return fmt.Errorf("write to %s: %w", db, err)
	}
	d.next.Add(d.next, big.NewInt(1))
	return nil
}

func (s *Server) writable(db string) (*database, error) {
	d := s.dbs[db]
	switch {
	case d == nil:
		return nil, errors.New("the database does not exist")
	case d.state == engine.Standby || d.readOnly:
		return nil, errors.New("error 3906: failed to update database because the database is read-only")
	case d.state != engine.Online:
		return nil, fmt.Errorf("error 927: the database is in the middle of a restore (%s)", d.state)
	}
	return d, nil
}

// Rows returns the row IDs a database holds.
func (s *Server) Rows(db string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	if d := s.dbs[db]; d != nil {
		for _, r := range d.rows {
			out = append(out, r.ID)
		}
	}
	return out
}

// SetRecovery switches the recovery model; SIMPLE breaks the log chain
// until the next full backup after switching back.
func (s *Server) SetRecovery(db, model string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[db]
	if d == nil {
		return
	}
	d.model = model
	if model == "SIMPLE" {
		d.chain = ""
	}
}

// RecoverByHand brings a restoring or standby database online outside
// drsctl (a DBA's RESTORE DATABASE … WITH RECOVERY): a new recovery fork
// begins at its redo LSN. It does nothing to a database that is absent,
// online, or torn (SQL Server refuses those with 3153/4333).
func (s *Server) RecoverByHand(db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dbs[db]; d != nil && !d.torn && (d.state == engine.Restoring || d.state == engine.Standby) {
		s.recoverLocked(d)
	}
}

// Drop drops a database (a DBA's DROP DATABASE). Backup and restore
// history is kept, as msdb keeps it unless deleted on purpose.
func (s *Server) Drop(db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dbs, db)
	delete(s.readers, db)
}

// Exists reports whether the database exists (in any state).
func (s *Server) Exists(db string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbs[db] != nil
}

// Database returns the truth about a database, for test oracles.
func (s *Server) Database(name string) (DatabaseInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[name]
	if d == nil {
		return DatabaseInfo{Name: name, State: engine.Absent}, false
	}
	info := DatabaseInfo{Name: d.name, State: d.state, RecoveryModel: d.model, ReadOnly: d.readOnly, RedoLSN: d.redo,
		NextLSN: lsnOf(d.next), ChainLSN: d.chain, Family: d.family, Fork: d.currentFork(), Forks: slices.Clone(d.forks),
		Origin: d.origin, Torn: d.torn, CreatedAt: d.created, Readers: s.readers[name]}
	for _, r := range d.rows {
		info.Rows = append(info.Rows, r.ID)
	}
	return info, true
}

// Backups returns the backup history (msdb.dbo.backupset) of a database on
// this server, oldest first: the backups taken here and those restored here.
func (s *Server) Backups(db string) []engine.BackupRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []engine.BackupRecord
	for _, h := range s.history {
		if h.Database == db {
			out = append(out, h)
		}
	}
	return out
}

// SetDown makes the server refuse connections (and calls on open sessions).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetClockOffset sets the server's clock to the driver's clock plus d: it
// dates backups (start, finish), restore history and databases created or
// restored afterwards.
func (s *Server) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = d
}

// HideIdentity makes observations report no Identity, like an engine that
// cannot tell one incarnation of a database from another.
func (s *Server) HideIdentity(hide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hideIdentity = hide
}

// ShiftReportedCreateDate makes observations report CreatedAt shifted by d
// (a server-local create_date converted with the wrong UTC offset, e.g.
// after a daylight-saving change). The database itself does not change.
func (s *Server) ShiftReportedCreateDate(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createShift = d
}

// TearNextRestore makes the next full restore (RESTORE DATABASE) of db that
// gets past its checks fail midway, like a connection dropped during the
// data copy: the database is left RESTORING and unusable, its restore
// history unchanged, and the call fails with an error wrapping
// engine.ErrUnreachable.
func (s *Server) TearNextRestore(db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tear[db] = true
}

// SetReaders sets how many sessions use a database (readable when STANDBY
// or ONLINE). A restore over it then fails with engine.ErrInUse (error
// 3101) unless it asks to disconnect users.
func (s *Server) SetReaders(db string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readers[db] = n
}

// FailNext makes the next operation op ("backup", "restore", "recover",
// "observe", "describe") on database db ("" = any) fail with err. With
// after=true the operation takes effect first and only the reply is lost,
// like a connection dropped at the end. "observe" fails ObservePrimary and
// ObserveStandby when db is one of the databases asked about.
func (s *Server) FailNext(op, db string, after bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = append(s.failures[op], failure{db: db, after: after, err: err})
}

// ClearFailures drops every failure still queued by FailNext and
// TearNextRestore: the faults of a test history stop.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.failures)
	clear(s.tear)
}

// Calls returns how many times op ran through a session (successfully or
// not). Out-of-band work (BackupOutOfBand…, RecoverByHand) is not counted.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Restores returns the audit log of every restore request made through a
// session, oldest first.
func (s *Server) Restores() []RestoreEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.audit)
}

// enter counts a call and reports the failure it must end with: before
// (nothing done: the context was cancelled, the server is down, or a
// FailNext) or after (done, reply lost). Callers hold s.mu.
func (s *Server) enter(ctx context.Context, op string, dbs ...string) (before, after error) {
	s.calls[op]++
	if err := ctx.Err(); err != nil {
		return err, nil
	}
	if s.down {
		return fmt.Errorf("%s on %s: %w", op, s.name, engine.ErrUnreachable), nil
	}
	fs := s.failures[op]
	for i, f := range fs {
		if f.db == "" || slices.Contains(dbs, f.db) {
			s.failures[op] = append(fs[:i:i], fs[i+1:]...)
			if f.after {
				return nil, f.err
			}
			return f.err, nil
		}
	}
	return nil, nil
}

// BackupOutOfBand takes a log backup outside drsctl to path (like a DBA's
// manual BACKUP LOG), recorded in the server's history.
func (s *Server) BackupOutOfBand(ctx context.Context, db, path string) (artifact.Header, error) {
	return s.BackupByHand(ctx, engine.BackupRequest{Database: db, Kind: artifact.Log, ServerPath: path})
}

// BackupOutOfBandFull takes a full backup outside drsctl to path (a DBA's
// manual BACKUP DATABASE), recorded in the server's history.
func (s *Server) BackupOutOfBandFull(ctx context.Context, db, path string) (artifact.Header, error) {
	return s.BackupByHand(ctx, engine.BackupRequest{Database: db, Kind: artifact.Full, ServerPath: path})
}

// BackupByHand takes any backup outside drsctl (COPY_ONLY, tail-log WITH
// NORECOVERY…). It is not counted by Calls and no FailNext applies to it,
// but a server that is down refuses it.
func (s *Server) BackupByHand(ctx context.Context, req engine.BackupRequest) (artifact.Header, error) {
	if err := ctx.Err(); err != nil {
		return artifact.Header{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return artifact.Header{}, fmt.Errorf("backup on %s: %w", s.name, engine.ErrUnreachable)
	}
	return s.backupLocked(req, engine.NoProgress)
}

type session struct{ s *Server }

func (x *session) Close() error { return nil }

func (x *session) ObservePrimary(ctx context.Context, names []string, since time.Time) ([]engine.PrimaryDatabase, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.enter(ctx, "observe", names...)
	if before != nil {
		return nil, before
	}
	if after != nil {
		return nil, after
	}
	var out []engine.PrimaryDatabase
	for _, n := range names {
		d := s.dbs[n]
		if d == nil {
			out = append(out, engine.PrimaryDatabase{Name: n})
			continue
		}
		pd := engine.PrimaryDatabase{Name: n, Exists: true, State: strings.ToUpper(string(d.state)), RecoveryModel: d.model,
			CreatedAt: d.created.Add(s.createShift), LogChain: d.chain != "", ChainLSN: d.chain}
		// sys.database_recovery_status.recovery_fork_guid is NULL for a
		// database that cannot start (RESTORING).
		if !s.hideIdentity && (d.state == engine.Online || d.state == engine.Standby) && !d.torn {
			pd.Identity = d.currentFork()
		}
		for _, h := range s.history {
			// Of this database's backup family only, as the SQL Server
			// engine reads msdb: a dropped namesake's backups stay there.
			if h.Database == n && !h.Finish.Before(since) && (h.FamilyGUID == "" || d.family == "" || h.FamilyGUID == d.family) {
				pd.Backups = append(pd.Backups, h)
			}
		}
		out = append(out, pd)
	}
	return out, nil
}

func (x *session) Backup(ctx context.Context, req engine.BackupRequest, progress engine.Progress) (artifact.Header, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.enter(ctx, "backup", req.Database)
	if before != nil {
		return artifact.Header{}, before
	}
	h, err := s.backupLocked(req, progress)
	if err != nil {
		return artifact.Header{}, err
	}
	if after != nil {
		return artifact.Header{}, after
	}
	return h, nil
}

// backupLocked takes a backup; callers hold s.mu. The database changes only
// once the file is written.
func (s *Server) backupLocked(req engine.BackupRequest, progress engine.Progress) (artifact.Header, error) {
	d := s.dbs[req.Database]
	switch {
	case d == nil:
		return artifact.Header{}, fmt.Errorf("backup %s: error 911: the database does not exist", req.Database)
	case d.state == engine.Standby:
		return artifact.Header{}, fmt.Errorf("backup %s: error 3036: the database is in warm-standby state and cannot be backed up until the entire restore sequence is completed", d.name)
	case d.state != engine.Online:
		return artifact.Header{}, fmt.Errorf("backup %s: error 927: the database is in the middle of a restore", d.name)
	}
	if req.Kind == artifact.Log && req.NoRecovery && s.readers[req.Database] > 0 {
		// A tail-log backup leaves the database RESTORING: it needs it alone.
		if !req.DisconnectUsers {
			return artifact.Header{}, fmt.Errorf("backup log %s: %w: error 3101: exclusive access could not be obtained because the database is in use", d.name, engine.ErrInUse)
		}
		s.readers[req.Database] = 0
	}
	cur := new(big.Int).Set(d.next)
	h := artifact.Header{Kind: req.Kind, Database: d.name, Start: s.clock(), FamilyGUID: d.family, CopyOnly: req.CopyOnly,
		DatabaseBackupLSN: d.lastFull}
	if h.DatabaseBackupLSN == "" {
		h.DatabaseBackupLSN = "0"
	}
	var rows []row
	next := new(big.Int).Set(cur)
	chain, lastFull, ckpt := d.chain, d.lastFull, d.ckpt
	switch req.Kind {
	case artifact.Full:
		if req.NoRecovery {
			return artifact.Header{}, fmt.Errorf("backup %s: NORECOVERY is a BACKUP LOG option", d.name)
		}
		// A full backup writes two log records: its checkpoint (where redo
		// starts) and, after copying the data, the backup's end. LastLSN is
		// the LSN of the next log record after the backup set.
		h.FirstLSN, h.CheckpointLSN = lsnOf(cur), lsnOf(cur)
		next.Add(next, big.NewInt(1))
		h.LastLSN = lsnOf(next)
		next.Add(next, big.NewInt(1))
		rows = slices.Clone(d.rows)
		ckpt = h.CheckpointLSN
		if !req.CopyOnly {
			lastFull = h.CheckpointLSN
			if chain == "" && d.model != "SIMPLE" {
				chain = h.FirstLSN
			}
		}
	case artifact.Log:
		if d.model == "SIMPLE" {
			return artifact.Header{}, fmt.Errorf("backup log %s: error 4208: BACKUP LOG is not allowed while the recovery model is SIMPLE", d.name)
		}
		if chain == "" {
			return artifact.Header{}, fmt.Errorf("backup log %s: error 4214: BACKUP LOG cannot be performed because there is no current database backup", d.name)
		}
		// A log backup writes no log record of its own: on an idle
		// database it is empty (FirstLSN == LastLSN).
		h.FirstLSN, h.LastLSN, h.CheckpointLSN = chain, lsnOf(cur), d.ckpt
		for _, r := range d.rows {
			if r.LSN.Cmp(h.FirstLSN) >= 0 && r.LSN.Cmp(h.LastLSN) < 0 {
				rows = append(rows, r)
			}
		}
		if !req.CopyOnly {
			chain = h.LastLSN
		}
	default:
		return artifact.Header{}, fmt.Errorf("backup %s: unknown kind %q", d.name, req.Kind)
	}
	h.Finish = s.clock()
	f := backupFile{Header: h, Rows: rows, Forks: slices.Clone(d.forks), RecoveryModel: d.model, ServerName: s.name, DatabaseCreated: d.created}
	if err := writeFile(req.ServerPath, f); err != nil {
		return artifact.Header{}, fmt.Errorf("backup %s: error 3201: cannot open backup device %s: %w", d.name, req.ServerPath, err)
	}
	d.next, d.chain, d.lastFull, d.ckpt = next, chain, lastFull, ckpt
	if req.Kind == artifact.Log && req.NoRecovery {
		// Tail-log backup: the database is left RESTORING where the log ends.
		d.state, d.readOnly, d.redo = engine.Restoring, false, h.LastLSN
	}
	progress.Step(100, "")
	s.history = append(s.history, engine.BackupRecord{Header: h, Path: req.ServerPath})
	return h, nil
}

func writeFile(path string, f backupFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readFile(path string) (backupFile, error) {
	var f backupFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s is damaged: %w", filepath.Base(path), err)
	}
	if !f.Header.Kind.Valid() {
		return f, fmt.Errorf("%s is not a backup file", filepath.Base(path))
	}
	return f, nil
}

func (x *session) Describe(ctx context.Context, path string) (artifact.Header, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ferr := readFile(path)
	before, after := s.enter(ctx, "describe", f.Header.Database)
	if before != nil {
		return artifact.Header{}, before
	}
	if ferr != nil {
		return artifact.Header{}, fmt.Errorf("describe %s: error 3201: %w", path, ferr)
	}
	if after != nil {
		return artifact.Header{}, after
	}
	return f.Header, nil
}

func (x *session) ObserveStandby(ctx context.Context, names []string) ([]engine.StandbyDatabase, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.enter(ctx, "observe", names...)
	if before != nil {
		return nil, before
	}
	if after != nil {
		return nil, after
	}
	var out []engine.StandbyDatabase
	for _, n := range names {
		d := s.dbs[n]
		if d == nil {
			out = append(out, engine.StandbyDatabase{Name: n, State: engine.Absent, RawState: "absent"})
			continue
		}
		sd := engine.StandbyDatabase{Name: n, State: d.state, RawState: strings.ToUpper(string(d.state)), RedoLSN: d.redo}
		if d.torn {
			sd.RedoLSN = ""
		}
		// The newest restore of this database, as the SQL Server engine
		// reads msdb: history outlives DROP DATABASE, so a namesake's
		// restores (another family, when the database is started; or an
		// hour and more before this database was created) are not its own.
		rs, fams := s.restores[n], s.restoreFamily[n]
		if i := len(rs) - 1; i >= 0 && !rs[i].At.Before(d.created.Add(-time.Hour)) &&
			(d.state == engine.Restoring || fams[i] == d.family) {
			last := rs[i]
			last.FamilyGUID = fams[i]
			sd.LastRestore = &last
		}
		// The newest full restore of this database: what it was seeded
		// from, by the same rules.
		for i := len(rs) - 1; i >= 0; i-- {
			if rs[i].Kind != artifact.Full {
				continue
			}
			if !rs[i].At.Before(d.created.Add(-time.Hour)) && (d.state == engine.Restoring || fams[i] == d.family) {
				seed := rs[i]
				seed.FamilyGUID = fams[i]
				sd.SeedRestore = &seed
			}
			break
		}
		out = append(out, sd)
	}
	return out, nil
}

// chainErr is a refusal of a backup's place in the chain.
func chainErr(db string, number int, format string, args ...any) error {
	kind := engine.ErrChain
	if number == 4326 {
		kind = engine.ErrAlreadyRestored // wraps ErrChain
	}
	return fmt.Errorf("restore log %s: %w: error %d: %s", db, kind, number, fmt.Sprintf(format, args...))
}

func (x *session) Restore(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := RestoreEvent{Database: req.Database, Kind: req.Kind, Path: req.ServerPath, Mode: req.Mode, Replace: req.Replace,
		ReplacedState: engine.Absent, At: s.clock()}
	if d := s.dbs[req.Database]; d != nil {
		ev.ReplacedState, ev.ReplacedOrigin, ev.ReplacedTorn = d.state, d.origin, d.torn
	}
	err := s.restoreLocked(ctx, req, progress, &ev, false)
	if err != nil {
		ev.Err = err.Error()
	}
	s.audit = append(s.audit, ev)
	return err
}

// RestoreByHand is a DBA's RESTORE outside drsctl: the same rules, but no
// injected failure applies to it and it is not in the audit log of
// Restores (which records what drsctl asked for).
func (s *Server) RestoreByHand(ctx context.Context, req engine.RestoreRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ev RestoreEvent
	return s.restoreLocked(ctx, req, engine.NoProgress, &ev, true)
}

// restoreLocked runs one restore request; callers hold s.mu. byHand skips
// injected failures (FailNext, TearNextRestore).
func (s *Server) restoreLocked(ctx context.Context, req engine.RestoreRequest, progress engine.Progress, ev *RestoreEvent, byHand bool) error {
	var after error
	if byHand {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.down {
			return fmt.Errorf("restore on %s: %w", s.name, engine.ErrUnreachable)
		}
	} else {
		var before error
		if before, after = s.enter(ctx, "restore", req.Database); before != nil {
			return before
		}
	}
	f, err := readFile(req.ServerPath)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w: error 3201: %w", req.Database, req.ServerPath, engine.ErrDamaged, err)
	}
	h := f.Header
	ev.Kind, ev.FirstLSN, ev.LastLSN = h.Kind, h.FirstLSN, h.LastLSN
	if req.Kind != "" && req.Kind != h.Kind {
		return fmt.Errorf("restore %s: the file holds a %s backup, not a %s backup", req.Database, h.Kind, req.Kind)
	}
	switch req.Mode {
	case engine.NoRecovery:
	case engine.StandbyMode:
		// An empty UndoFile lets the engine choose (its default data
		// directory); the memory engine keeps no undo file.
	default:
		return fmt.Errorf("restore %s: unknown mode %q (norecovery or standby)", req.Database, req.Mode)
	}
	d := s.dbs[req.Database]
	if d != nil && (d.state == engine.Standby || d.state == engine.Online) && s.readers[req.Database] > 0 {
		if !req.DisconnectUsers {
			return fmt.Errorf("restore %s: %w: error 3101: exclusive access could not be obtained because the database is in use", req.Database, engine.ErrInUse)
		}
		s.readers[req.Database] = 0
	}
	switch h.Kind {
	case artifact.Full:
		if d != nil && !req.Replace {
			switch {
			case d.family != h.FamilyGUID || h.Database != d.name:
				return fmt.Errorf("restore %s: error 3154: the backup set holds a backup of a database other than the existing '%s' database (REPLACE was not given)", req.Database, d.name)
			case d.state == engine.Online && d.model != "SIMPLE":
				return fmt.Errorf("restore %s: error 3159: the tail of the log for the database \"%s\" has not been backed up (REPLACE was not given)", req.Database, d.name)
			default:
				return fmt.Errorf("restore %s: the database exists (%s); REPLACE was not given", req.Database, d.state)
			}
		}
		if s.tear[req.Database] && !byHand {
			delete(s.tear, req.Database)
			s.dbs[req.Database] = &database{name: req.Database, model: f.RecoveryModel, created: s.clock(), state: engine.Restoring,
				next: new(big.Int), family: h.FamilyGUID, origin: Restored, torn: true}
			ev.Torn = true
			return fmt.Errorf("restore %s from %s: the connection was dropped during the data copy: %w", req.Database, req.ServerPath, engine.ErrUnreachable)
		}
		model := f.RecoveryModel
		if model == "" {
			model = "FULL"
		}
		d = &database{name: req.Database, model: model, created: s.clock(), next: bigOf(h.LastLSN), family: h.FamilyGUID,
			forks: slices.Clone(f.Forks), redo: h.LastLSN, rows: slices.Clone(f.Rows), origin: Restored,
			ckpt: h.CheckpointLSN, lastFull: h.CheckpointLSN}
		s.dbs[req.Database] = d
	case artifact.Log:
		if err := checkLog(req.Database, d, f); err != nil {
			return err
		}
		for _, r := range f.Rows {
			if r.LSN.Cmp(d.redo) >= 0 && r.LSN.Cmp(h.LastLSN) < 0 {
				d.rows = append(d.rows, r)
			}
		}
		sort.SliceStable(d.rows, func(i, j int) bool { return d.rows[i].LSN.Cmp(d.rows[j].LSN) < 0 })
		d.redo = h.LastLSN
		d.next = bigOf(h.LastLSN)
		if len(f.Forks) > 0 {
			d.forks = slices.Clone(f.Forks)
		}
		if h.CheckpointLSN != "" {
			d.ckpt = h.CheckpointLSN
		}
	}
	d.state, d.readOnly = engine.Restoring, false
	if req.Mode == engine.StandbyMode {
		d.state, d.readOnly = engine.Standby, true
	}
	// msdb: restorehistory gets a row, and so does backupset (the restored
	// backup set is recorded on this server too).
	s.restores[req.Database] = append(s.restores[req.Database], engine.RestoreRecord{At: s.clock(), Kind: h.Kind, FirstLSN: h.FirstLSN, LastLSN: h.LastLSN, Path: req.ServerPath})
	s.restoreFamily[req.Database] = append(s.restoreFamily[req.Database], h.FamilyGUID)
	s.history = append(s.history, engine.BackupRecord{Header: h, Path: req.ServerPath})
	ev.Done = true
	progress.Step(100, "")
	return after
}

// checkLog applies SQL Server's checks to a RESTORE LOG.
func checkLog(db string, d *database, f backupFile) error {
	h := f.Header
	switch {
	case d == nil:
		return chainErr(db, 3117, "the log backup cannot be restored because the database does not exist: no files are ready to rollforward")
	case d.torn:
		return chainErr(db, 4319, "the database is in the middle of a restore: a previous RESTORE DATABASE was interrupted and did not complete; restore the full backup again (WITH REPLACE) to restart the restore sequence")
	case d.state != engine.Restoring && d.state != engine.Standby:
		return chainErr(db, 3117, "the log backup cannot be restored because no files are ready to rollforward (the database is %s)", d.state)
	case d.family != "" && h.FamilyGUID != d.family:
		return chainErr(db, 4330, "this backup set cannot be applied because it is on a recovery path that is inconsistent with the database (a backup of another database)")
	}
	if len(f.Forks) > 0 && len(d.forks) > 0 {
		if b, mine := forkAt(f.Forks, d.redo), forkAt(d.forks, d.redo); b != mine {
			return chainErr(db, 4330, "this backup set cannot be applied because it is on a recovery path that is inconsistent with the database: at LSN %s the backup is on recovery fork %s, the database on %s", d.redo, b, mine)
		}
	}
	if h.FirstLSN.Cmp(d.redo) > 0 {
		return chainErr(db, 4305, "the log in this backup set begins at LSN %s, which is too recent to apply to the database. An earlier log backup that includes LSN %s can be restored", h.FirstLSN, d.redo)
	}
	if h.LastLSN.Cmp(d.redo) <= 0 {
		return chainErr(db, 4326, "the log in this backup set terminates at LSN %s, which is too early to apply to the database. A more recent log backup that includes LSN %s can be restored", h.LastLSN, d.redo)
	}
	return nil
}

func (x *session) Recover(ctx context.Context, req engine.RecoverRequest) error {
	db := req.Database
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.enter(ctx, "recover", db)
	if before != nil {
		return before
	}
	d := s.dbs[db]
	switch {
	case d == nil:
		return fmt.Errorf("recover %s: error 911: the database does not exist", db)
	case d.torn:
		return fmt.Errorf("recover %s: error 4333: the database cannot be recovered because the log was not restored (a full restore was interrupted; restore the full backup again)", db)
	case d.state == engine.Online:
		return fmt.Errorf("recover %s: error 3153: the database is already fully recovered", db)
	case d.state != engine.Restoring && d.state != engine.Standby:
		return fmt.Errorf("recover %s: the database is %s, not restoring", db, d.state)
	case d.state == engine.Standby && s.readers[db] > 0 && !req.DisconnectUsers:
		// RESTORE WITH RECOVERY needs the database alone, like any restore.
		return fmt.Errorf("recover %s: %w: error 3101: exclusive access could not be obtained because the database is in use", db, engine.ErrInUse)
	}
	s.readers[db] = 0
	s.recoverLocked(d)
	return after
}

// recoverLocked brings a restoring or standby database online: a new
// recovery fork begins at the redo LSN, recovery writes its end-of-recovery
// record there, and the log chain continues from the fork point. Callers
// hold s.mu.
func (s *Server) recoverLocked(d *database) {
	redo := d.redo
	if redo == "" {
		redo = lsnOf(d.next)
	}
	d.forks = append(d.forks, Fork{ID: s.newID(), StartLSN: redo})
	d.next = new(big.Int).Add(bigOf(redo), big.NewInt(1))
	d.state, d.readOnly, d.redo, d.origin = engine.Online, false, "", Recovered
	d.ckpt = redo
	if d.model != "SIMPLE" {
		d.chain = redo
	} else {
		d.chain = ""
	}
}
