package sqlsim

import (
	"crypto/tls"
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
	// report in message 3014. Dates are kept as the server's local time
	// (TimeZone) when they were written. Pauses (StepDelay, WAITFOR) stay real.
	// It is called from every session, sometimes with the server's lock
	// held: it must be safe for concurrent use and must not call back into
	// the server.
	Now func() time.Time
	// TimeZone is the server's time zone, an IANA name ("Europe/Berlin";
	// "" is UTC). GETDATE(), SYSDATETIME(), msdb's dates, create_date and
	// HEADERONLY's dates are local wall clock in it, daylight saving
	// included; GETUTCDATE() and SYSUTCDATETIME() are UTC.
	TimeZone string
	// MajorVersion is the product's major version: 16 (SQL Server 2022,
	// the default) or 15 (2019). Only 16 has HEADERONLY's TimeZone column
	// (and only the version numbers in SERVERPROPERTY and HEADERONLY
	// change with it).
	MajorVersion int
	// HeaderTimeZone, when set, is what HEADERONLY's TimeZone column (16
	// only) says for backups taken from now on, whatever the offset; when
	// empty it is the UTC offset in force when the server started, "+HH:MM"
	// (see doc.go: the column's meaning is undocumented and real servers
	// return values that are not the backup's offset).
	HeaderTimeZone string
	// UnknownTimeZone records msdb.dbo.backupset.time_zone as 127
	// ("unknown", as the documentation allows) instead of the offset.
	UnknownTimeZone bool
	// URLPlainHTTP makes BACKUP TO URL and RESTORE FROM URL talk plain
	// http to the host the URL names (https:// and s3:// URLs alike), for
	// the test environment's Azurite and S3 servers. The real server only
	// speaks https (doc.go, "Backups to URL").
	URLPlainHTTP bool
	// URLMaxChunks, when positive, is how many blocks (Azure, 50,000 on
	// the real server) or parts (S3, 10,000) of MAXTRANSFERSIZE one URL of
	// a backup may hold; URLBlobLimit, when positive, caps its bytes. A
	// backup's size is its HEADERONLY BackupSize (about 2.7 MB for a small
	// database). Tests lower them to make a backup need striping or a
	// larger MAXTRANSFERSIZE.
	URLMaxChunks int64
	URLBlobLimit int64
	// Logins are logins besides sa, each with its roles and permissions
	// (perms.go); statements check them as SQL Server does.
	Logins []Login
	// Certificate, when set, lets clients encrypt (tls.go): TLS inside
	// PRELOGIN for TDS 7.x (the login only, or everything, as negotiated)
	// and TLS before PRELOGIN for TDS 8.0 (encrypt=strict). Without it the
	// server answers ENCRYPT_NOT_SUP.
	Certificate *tls.Certificate
	// ForceEncryption answers ENCRYPT_REQ to every client: one that
	// cannot encrypt (encrypt=disable) is cut off.
	ForceEncryption bool
	// Strict accepts TDS 8.0 clients only (Force Strict Encryption).
	Strict bool
	// RedoStartLSNInStandby fills sys.master_files.redo_start_lsn for a
	// database in STANDBY too. By default it is NULL there: the
	// documentation says NULL unless the file is RESTORING (or
	// RECOVERY_PENDING), and a STANDBY database's files are ONLINE; real
	// tools are reported to read it there, which is undocumented (doc.go).
	RedoStartLSNInStandby bool
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
	loc     *time.Location // Options.TimeZone
	hdrZone string         // HEADERONLY's TimeZone for new backups

	mu       sync.Mutex
	st       *state
	sessions map[int]*session
	conns    map[net.Conn]struct{} // every open connection, logged in or not
	nextSPID int
	closed   bool
	space    map[string]int64  // LimitSpace: free bytes by directory
	dropped  []DroppedDatabase // DROP DATABASE, for Dropped
	fatal    []fatalFault      // FailFatal's armed errors, first first
	// killDelay and noViewServerState: SetKillDelay, DenyViewServerState
	// (readers.go).
	killDelay         time.Duration
	noViewServerState bool

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
	if opts.MajorVersion == 0 {
		opts.MajorVersion = 16
	}
	if opts.MajorVersion != 15 && opts.MajorVersion != 16 {
		return nil, fmt.Errorf("sqlsim: MajorVersion %d is not 15 or 16", opts.MajorVersion)
	}
	if err := checkLogins(opts.Logins); err != nil {
		return nil, err
	}
	if opts.Certificate == nil && (opts.ForceEncryption || opts.Strict) {
		return nil, errors.New("sqlsim: ForceEncryption and Strict need a Certificate")
	}
	loc, err := time.LoadLocation(opts.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("sqlsim: TimeZone: %w", err)
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
	hdr := opts.HeaderTimeZone
	if hdr == "" {
		hdr = formatOffset(utcOffset(time.Now(), loc))
		if opts.Now != nil {
			hdr = formatOffset(utcOffset(opts.Now(), loc))
		}
	}
	s := &Server{opts: opts, ln: ln, lsnBase: base, loc: loc, hdrZone: hdr, st: st, sessions: map[int]*session{}, conns: map[net.Conn]struct{}{}, nextSPID: 51,
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

// now is the server's local time at datetime precision, as GETDATE() and
// msdb store it (a wall clock without a zone, kept as a UTC time.Time).
func (s *Server) now() time.Time { return roundDateTime(s.local(s.clock())) }

// local is t's wall clock in the server's time zone, as a UTC time.Time
// (how the simulator keeps datetime values, which carry no zone).
func (s *Server) local(t time.Time) time.Time {
	l := t.In(s.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// zoneQuarters is msdb.dbo.backupset.time_zone for a backup written at t:
// the offset from UTC in 15-minute intervals, or 127 (unknown).
func (s *Server) zoneQuarters(t time.Time) int {
	if s.opts.UnknownTimeZone {
		return 127
	}
	return int(utcOffset(t, s.loc) / (15 * time.Minute))
}

func utcOffset(t time.Time, loc *time.Location) time.Duration {
	_, off := t.In(loc).Zone()
	return time.Duration(off) * time.Second
}

// formatOffset is "+HH:MM" / "-HH:MM".
func formatOffset(d time.Duration) string {
	sign := '+'
	if d < 0 {
		sign, d = '-', -d
	}
	return fmt.Sprintf("%c%02d:%02d", sign, int(d/time.Hour), int(d%time.Hour/time.Minute))
}
