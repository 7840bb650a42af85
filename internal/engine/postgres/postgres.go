package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// SlotName is the physical replication slot drsctl keeps on a primary: it
// holds every WAL segment drsctl has not yet recorded in its ledger. One
// drsctl configuration protects a PostgreSQL primary.
const SlotName = "drsctl"

// Driver opens PostgreSQL sessions.
type Driver struct {
	// FetchCommand is the drsctl executable a standby's restore_command
	// runs (`drsctl wal-fetch`); empty: this process's executable.
	FetchCommand string
	// OSUser runs the standby's cluster (pg_ctl) when drsctl runs as root:
	// PostgreSQL refuses to run as root. Empty: "postgres".
	OSUser string
}

// New returns the driver with its defaults.
func New() *Driver { return &Driver{} }

var _ engine.SiteDriver = (*Driver)(nil)

// Open connects to a primary (no data directory).
func (d *Driver) Open(ctx context.Context, connection string) (engine.Session, error) {
	return d.OpenSite(ctx, connection, engine.Site{})
}

// OpenSite checks the libpq URL and returns a session. It does not connect:
// a standby's cluster may not exist yet (it is built by the first restore),
// and each call connects for itself.
func (d *Driver) OpenSite(ctx context.Context, connection string, site engine.Site) (engine.Session, error) {
	cfg, err := pgconn.ParseConfig(connection)
	if err != nil {
		return nil, fmt.Errorf("the connection is not a valid libpq URL or key=value string (the value is not shown: it may hold a password)")
	}
	s := &session{d: d, dsn: connection, site: site, port: cfg.Port, host: cfg.Host, ownTimeout: cfg.ConnectTimeout != 0}
	return s, nil
}

// session is one configured server: a primary, or a standby with its data
// directory on this host.
type session struct {
	d    *Driver
	dsn  string
	site engine.Site
	host string
	port uint16
	// ownTimeout: the connection sets connect_timeout; otherwise each
	// connection is bounded by ConnectTimeout (see connect.go).
	ownTimeout bool

	mu sync.Mutex // serialises work on the standby's data directory
}

// CarriesBackups marks PostgreSQL sessions as carried by drsctl: base
// backups and WAL arrive through the replication protocol.
func (s *session) CarriesBackups() {}

func (s *session) Close() error { return nil }

// sql connects for SQL. Errors never carry the connection string.
func (s *session) sql(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := s.connecting(ctx)
	defer cancel()
	c, err := pgx.Connect(cctx, s.dsn)
	if err != nil {
		return nil, s.connectFailed(ctx, cctx, err)
	}
	return c, nil
}

// replication connects with replication=database: SQL and replication
// commands on one connection.
func (s *session) replication(ctx context.Context) (*pgconn.PgConn, error) {
	dsn, err := withParam(s.dsn, "replication", "database")
	if err != nil {
		return nil, err
	}
	cctx, cancel := s.connecting(ctx)
	defer cancel()
	c, err := pgconn.Connect(cctx, dsn)
	if err != nil {
		return nil, s.connectFailed(ctx, cctx, err)
	}
	return c, nil
}

func withParam(dsn, k, v string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("the connection URL does not parse (the value is not shown: it may hold a password)")
		}
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " " + k + "=" + v, nil
}

// connectError keeps what the server or network said and drops the
// connection string pgconn may quote.
func connectError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("%w: %s (SQLSTATE %s)", engine.ErrUnreachable, pgErr.Message, pgErr.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %v", engine.ErrUnreachable, errors.Unwrap(ce))
	}
	return fmt.Errorf("%w: %v", engine.ErrUnreachable, err)
}

// lsnOf turns a PostgreSQL LSN into drsctl's position: the byte position
// in decimal, so positions compare as artifact.LSN does.
func lsnOf(l pglogrepl.LSN) artifact.LSN {
	return artifact.LSN(strconv.FormatUint(uint64(l), 10))
}

// pgLSN turns drsctl's position back into a PostgreSQL LSN.
func pgLSN(l artifact.LSN) (pglogrepl.LSN, error) {
	if l.IsZero() {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(l), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("position %q is not a PostgreSQL LSN", l)
	}
	return pglogrepl.LSN(n), nil
}

// family names a cluster's WAL history: its system identifier and
// timeline. A backup of another cluster, or of another timeline (a
// promotion forked it), never continues a chain.
func family(sysid string, tli uint32) string { return fmt.Sprintf("%s/%d", sysid, tli) }

func (d *Driver) osUser() string {
	if d.OSUser != "" {
		return d.OSUser
	}
	return "postgres"
}

func (d *Driver) fetchCommand() (string, error) {
	if d.FetchCommand != "" {
		return d.FetchCommand, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding drsctl's own path for the standby's restore_command: %w", err)
	}
	return exe, nil
}
