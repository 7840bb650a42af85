// Package enginetest is an in-memory engine.Driver for tests of drsctl's
// core. It models what the planner and apply depend on faithfully: LSNs as
// big decimal numbers (beyond int64), the log chain rules (a full does not
// break the chain; consecutive logs meet exactly; SIMPLE recovery breaks
// it), backup history, and standbys that refuse a restore out of order. It
// writes real backup files at the paths it is given, so the storage side of
// apply (checksums, shipping) is exercised for real.
//
// It is not SQL Server: there is no T-SQL, no TDS and no error numbers; the
// sqlserver engine is tested against the TDS simulator instead.
package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// Driver serves in-memory servers by name: the connection string is
// "mem://NAME".
type Driver struct {
	mu      sync.Mutex
	servers map[string]*Server
	// Now is the clock used for backup times (default time.Now).
	Now func() time.Time
}

// NewDriver returns a driver with no servers.
func NewDriver() *Driver { return &Driver{servers: map[string]*Server{}} }

// Server returns (creating) the named server.
func (d *Driver) Server(name string) *Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.servers[name]
	if s == nil {
		s = &Server{name: name, dbs: map[string]*database{}, now: d.now, failures: map[string][]failure{}}
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

// Open implements engine.Driver.
func (d *Driver) Open(ctx context.Context, connection string) (engine.Session, error) {
	name, ok := strings.CutPrefix(connection, "mem://")
	if !ok || name == "" {
		return nil, errors.New("memory engine: connection must look like mem://NAME")
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

// Server is one in-memory database server.
type Server struct {
	mu       sync.Mutex
	name     string
	dbs      map[string]*database
	history  []engine.BackupRecord
	restores map[string][]engine.RestoreRecord
	now      func() time.Time
	down     bool
	failures map[string][]failure
	// Calls counts operations by name ("backup", "restore", …).
	calls map[string]int
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
	next     *big.Int            // next LSN
	chain    artifact.LSN        // where the next log backup begins; "" = no chain
	family   string
	redo     artifact.LSN // standby: where the next log restore begins
	rows     []row
	readOnly bool
}

type row struct {
	ID  int
	LSN artifact.LSN
}

// backupFile is what the double writes as a backup file.
type backupFile struct {
	Header artifact.Header
	Rows   []row
}

// Create creates an online database in FULL recovery whose LSNs start at
// base (a decimal string, may exceed int64).
func (s *Server) Create(name, base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := new(big.Int).SetString(base, 10)
	if !ok {
		panic("enginetest: bad LSN base " + base)
	}
	s.dbs[name] = &database{name: name, model: "FULL", created: s.now().UTC().Truncate(time.Second), state: engine.Online, next: n,
		family: fmt.Sprintf("family-%s-%s", name, base)}
}

// Insert writes n rows on a database, advancing its LSN.
func (s *Server) Insert(db string, ids ...int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[db]
	if d == nil || d.state != engine.Online || d.readOnly {
		return fmt.Errorf("insert into %s: database not writable", db)
	}
	for _, id := range ids {
		d.rows = append(d.rows, row{ID: id, LSN: artifact.LSN(d.next.String())})
		d.next.Add(d.next, big.NewInt(1))
	}
	return nil
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

// SetRecovery switches the recovery model; SIMPLE breaks the log chain.
func (s *Server) SetRecovery(db, model string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[db]
	d.model = model
	if model == "SIMPLE" {
		d.chain = ""
	}
}

// RecoverByHand brings a standby database online outside drsctl.
func (s *Server) RecoverByHand(db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dbs[db]; d != nil {
		d.state, d.redo, d.readOnly = engine.Online, "", false
	}
}

// SetDown makes the server refuse connections (and calls on open sessions).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// FailNext makes the next operation op ("backup", "restore", "observe") on
// database db fail with err. With after=true the operation takes effect
// first and only the reply is lost, like a connection dropped at the end.
func (s *Server) FailNext(op, db string, after bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = append(s.failures[op], failure{db: db, after: after, err: err})
}

// Calls returns how many times op ran (successfully or not).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) enter(op, db string) (before, after error) {
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[op]++
	if s.down {
		return fmt.Errorf("%s on %s: %w", op, s.name, engine.ErrUnreachable), nil
	}
	fs := s.failures[op]
	for i, f := range fs {
		if f.db == db || f.db == "" {
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
	return (&session{s: s}).Backup(ctx, engine.BackupRequest{Database: db, Kind: artifact.Log, ServerPath: path}, engine.NoProgress)
}

type session struct{ s *Server }

func (x *session) Close() error { return nil }

func (x *session) ObservePrimary(ctx context.Context, names []string, since time.Time) ([]engine.PrimaryDatabase, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, _ := s.enter("observe", ""); err != nil {
		return nil, err
	}
	var out []engine.PrimaryDatabase
	for _, n := range names {
		d := s.dbs[n]
		if d == nil {
			out = append(out, engine.PrimaryDatabase{Name: n})
			continue
		}
		pd := engine.PrimaryDatabase{Name: n, Exists: true, State: strings.ToUpper(string(d.state)), RecoveryModel: d.model,
			CreatedAt: d.created, LogChain: d.chain != ""}
		for _, h := range s.history {
			if h.Database == n && !h.Finish.Before(since) {
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
	before, after := s.enter("backup", req.Database)
	if before != nil {
		return artifact.Header{}, before
	}
	d := s.dbs[req.Database]
	if d == nil || d.state != engine.Online {
		return artifact.Header{}, fmt.Errorf("backup %s: database does not exist or is not online", req.Database)
	}
	cur := artifact.LSN(d.next.String())
	h := artifact.Header{Kind: req.Kind, Database: d.name, Start: s.now().UTC(), FamilyGUID: d.family, CopyOnly: req.CopyOnly}
	var rows []row
	switch req.Kind {
	case artifact.Full:
		h.FirstLSN = cur
		if d.chain != "" {
			h.FirstLSN = d.chain
		}
		h.CheckpointLSN = cur
		rows = append(rows, d.rows...)
		d.next.Add(d.next, big.NewInt(1))
		h.LastLSN = artifact.LSN(d.next.String())
		d.next.Add(d.next, big.NewInt(1))
		if d.chain == "" && !req.CopyOnly && d.model != "SIMPLE" {
			d.chain = h.FirstLSN
		}
	case artifact.Log:
		if d.model == "SIMPLE" {
			return artifact.Header{}, fmt.Errorf("backup log %s: the recovery model is SIMPLE", d.name)
		}
		if d.chain == "" {
			return artifact.Header{}, fmt.Errorf("backup log %s: there is no current database backup", d.name)
		}
		h.FirstLSN = d.chain
		for _, r := range d.rows {
			if r.LSN.Cmp(h.FirstLSN) >= 0 {
				rows = append(rows, r)
			}
		}
		d.next.Add(d.next, big.NewInt(1))
		h.LastLSN = artifact.LSN(d.next.String())
		d.chain = h.LastLSN
	default:
		return artifact.Header{}, fmt.Errorf("backup %s: unknown kind %q", d.name, req.Kind)
	}
	h.Finish = s.now().UTC()
	if err := writeFile(req.ServerPath, backupFile{Header: h, Rows: rows}); err != nil {
		return artifact.Header{}, fmt.Errorf("backup %s to %s: %w", d.name, req.ServerPath, err)
	}
	progress.Step(100, "100 percent processed.")
	s.history = append(s.history, engine.BackupRecord{Header: h, Path: req.ServerPath})
	if after != nil {
		return artifact.Header{}, after
	}
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
	return f, nil
}

func (x *session) Describe(ctx context.Context, path string) (artifact.Header, error) {
	f, err := readFile(path)
	return f.Header, err
}

func (x *session) ObserveStandby(ctx context.Context, names []string) ([]engine.StandbyDatabase, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, _ := s.enter("observe", ""); err != nil {
		return nil, err
	}
	var out []engine.StandbyDatabase
	for _, n := range names {
		d := s.dbs[n]
		if d == nil {
			out = append(out, engine.StandbyDatabase{Name: n, State: engine.Absent, RawState: "absent"})
			continue
		}
		sd := engine.StandbyDatabase{Name: n, State: d.state, RawState: strings.ToUpper(string(d.state)), RedoLSN: d.redo}
		if rs := s.restores[n]; len(rs) > 0 {
			last := rs[len(rs)-1]
			sd.LastRestore = &last
		}
		out = append(out, sd)
	}
	return out, nil
}

func (x *session) Restore(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.enter("restore", req.Database)
	if before != nil {
		return before
	}
	f, err := readFile(req.ServerPath)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", req.Database, req.ServerPath, err)
	}
	if req.Mode == engine.StandbyMode && req.UndoFile == "" {
		return fmt.Errorf("restore %s: STANDBY needs an undo file", req.Database)
	}
	d := s.dbs[req.Database]
	h := f.Header
	switch h.Kind {
	case artifact.Full:
		if d != nil && !req.Replace {
			return fmt.Errorf("restore %s: the database exists; REPLACE was not given", req.Database)
		}
		d = &database{name: req.Database, model: "FULL", created: s.now().UTC(), next: new(big.Int), family: h.FamilyGUID}
		d.rows = append([]row(nil), f.Rows...)
		d.redo = h.LastLSN
		s.dbs[req.Database] = d
	case artifact.Log:
		if d == nil || (d.state != engine.Restoring && d.state != engine.Standby) {
			return fmt.Errorf("restore log %s: %w: the database is not restoring", req.Database, engine.ErrChain)
		}
		if h.FirstLSN.Cmp(d.redo) > 0 {
			return fmt.Errorf("restore log %s: %w: the log begins at LSN %s, too recent to apply (the database is at %s)", req.Database, engine.ErrChain, h.FirstLSN, d.redo)
		}
		if h.LastLSN.Cmp(d.redo) <= 0 {
			return fmt.Errorf("restore log %s: %w: the log ends at LSN %s, too early to apply (the database is at %s)", req.Database, engine.ErrChain, h.LastLSN, d.redo)
		}
		if d.family != "" && h.FamilyGUID != d.family {
			return fmt.Errorf("restore log %s: %w: another recovery path", req.Database, engine.ErrChain)
		}
		for _, r := range f.Rows {
			if r.LSN.Cmp(d.redo) >= 0 {
				d.rows = append(d.rows, r)
			}
		}
		sort.Slice(d.rows, func(i, j int) bool { return d.rows[i].LSN.Cmp(d.rows[j].LSN) < 0 })
		d.redo = h.LastLSN
	}
	d.state, d.readOnly = engine.Restoring, false
	if req.Mode == engine.StandbyMode {
		d.state, d.readOnly = engine.Standby, true
	}
	prev := s.restoresFor(req.Database)
	s.restores[req.Database] = append(prev, engine.RestoreRecord{At: s.now().UTC(), Kind: h.Kind, FirstLSN: h.FirstLSN, LastLSN: h.LastLSN, Path: req.ServerPath})
	progress.Step(100, "100 percent processed.")
	return after
}

func (s *Server) restoresFor(db string) []engine.RestoreRecord {
	if s.restores == nil {
		s.restores = map[string][]engine.RestoreRecord{}
	}
	return s.restores[db]
}

func (x *session) Recover(ctx context.Context, db string) error {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, _ := s.enter("recover", db); err != nil {
		return err
	}
	d := s.dbs[db]
	if d == nil || (d.state != engine.Restoring && d.state != engine.Standby) {
		return fmt.Errorf("recover %s: the database is not restoring", db)
	}
	d.state, d.readOnly, d.redo = engine.Online, false, ""
	return nil
}
