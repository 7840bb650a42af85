package sqlsim

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure one simulated server.
type Options struct {
	Addr     string // "127.0.0.1:0" picks a free port
	DataDir  string // where database metadata is persisted; backup files go wherever BACKUP says
	Password string // "" = any password accepted for login "sa"
	// LSNBase is the decimal starting LSN of new databases (default
	// "34000000001600001"). Values above 2^63 prove LSNs are never int64.
	LSNBase string
	Name    string                           // @@SERVERNAME and ServerName in HEADERONLY; default "SQLSIM"
	Logf    func(format string, args ...any) // optional
	// StepDelay, when set, pauses BACKUP and RESTORE between progress
	// steps (ten of them), so tests can watch STATS progress arrive and
	// cancel a running statement. Zero: no pause.
	StepDelay time.Duration
	// Now is the server's clock (nil: time.Now). Every time the simulator
	// produces comes from it: backup start and finish dates (HEADERONLY and
	// msdb.dbo.backupset), restorehistory.restore_date, create_date, login
	// times, GETDATE() and its kin, and the seconds BACKUP and RESTORE
	// report in message 3014. Values are kept as the server's local time,
	// which for the simulator is UTC. Pauses (StepDelay, WAITFOR) stay real.
	// It is called from every session, sometimes with the server's lock
	// held: it must be safe for concurrent use and must not call back into
	// the server.
	Now func() time.Time
}

// Product identity reported by @@VERSION, SERVERPROPERTY and LOGINACK.
const (
	productVersion = "16.0.4135.4"
	productLevel   = "RTM"
	versionString  = "Microsoft SQL Server 2022 (RTM-CU15) (KB5041321) - 16.0.4135.4 (X64) \n\tsqlsim (a TDS-speaking simulator used by drsctl's tests)\n\tDeveloper Edition (64-bit) on Linux (sqlsim)"
	defaultLSNBase = "34000000001600001"
)

// Server is one running simulator.
type Server struct {
	opts    Options
	ln      net.Listener
	lsnBase string

	mu       sync.Mutex
	st       *state
	sessions map[int]*session
	conns    map[net.Conn]struct{} // every open connection, logged in or not
	nextSPID int
	closed   bool
	space    map[string]int64  // LimitSpace: free bytes by directory
	dropped  []DroppedDatabase // DROP DATABASE, for Dropped

	// SetStall's mode; stallChanged is closed and replaced at each change.
	stallMu      sync.Mutex
	stall        Stall
	stallChanged chan struct{}
	stalled      int           // handshakes, requests and statements held now
	closing      chan struct{} // closed by Close: ends every hold

	wg sync.WaitGroup
}

// Start listens on opts.Addr and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Name == "" {
		opts.Name = "SQLSIM"
	}
	if opts.DataDir == "" {
		return nil, errors.New("sqlsim: Options.DataDir is required")
	}
	base := opts.LSNBase
	if base == "" {
		base = defaultLSNBase
	}
	if n, ok := new(big.Int).SetString(base, 10); !ok || n.Sign() <= 0 || len(base) > 25 {
		return nil, fmt.Errorf("sqlsim: LSNBase %q is not a positive decimal of at most 25 digits", base)
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, err
	}
	// The default location of database files: it exists, so restores
	// without MOVE of this server's own backups find their directory.
	if err := os.MkdirAll(filepath.Join(opts.DataDir, "data"), 0o755); err != nil {
		return nil, err
	}
	st, err := loadState(opts.DataDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, ln: ln, lsnBase: base, st: st, sessions: map[int]*session{}, conns: map[net.Conn]struct{}{}, nextSPID: 51,
		space: map[string]int64{}, stallChanged: make(chan struct{}), closing: make(chan struct{})}
	s.logf("sqlsim %s listening on %s (data %s)", opts.Name, ln.Addr(), opts.DataDir)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// DSN is a go-mssqldb connection string for login sa (database optional).
func (s *Server) DSN(database string) string {
	pw := s.opts.Password
	if pw == "" {
		pw = "sqlsim"
	}
	q := url.Values{}
	if database != "" {
		q.Set("database", database)
	}
	q.Set("encrypt", "disable")
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword("sa", pw), Host: s.Addr(), RawQuery: q.Encode()}
	return u.String()
}

// Close stops listening, ends every session and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.logf("sqlsim %s stopped", s.opts.Name)
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.wg.Add(1)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			newSession(s, c).serve()
		}()
	}
}

// persist saves the state; callers hold s.mu.
func (s *Server) persist() {
	if err := saveState(s.opts.DataDir, s.st); err != nil {
		s.logf("sqlsim: saving state: %v", err)
	}
}

// clock is the server's time (Options.Now), unrounded.
func (s *Server) clock() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// now is the server's time at datetime precision, as GETDATE() and msdb
// store it.
func (s *Server) now() time.Time { return roundDateTime(s.clock()) }
