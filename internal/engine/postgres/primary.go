package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/postgres/basebackup"
	"github.com/drsctl/drsctl/internal/engine/postgres/wal"
)

// A PostgreSQL primary protects a whole cluster: the core names it with one
// pseudo-database (the configuration says "cluster"); whatever the name, it
// is echoed back in what the session reports and writes.

// State words ObservePrimary uses beyond the server's own.
const (
	StateOnline     = "ONLINE"
	StateInRecovery = "IN RECOVERY"
	// StateReadOnly: default_transaction_read_only is on, as a planned
	// switchover leaves the old primary.
	StateReadOnly = engine.PrimaryReadOnly
)

// SlotReporter is a session that can say how the primary's replication
// slot stands (status and -check: the WAL it holds, how close it is to
// being lost).
type SlotReporter interface {
	Slot(ctx context.Context) (wal.SlotState, error)
}

var (
	_ engine.Carrier = (*session)(nil)
	_ SlotReporter   = (*session)(nil)
)

// Slot reads the state of drsctl's replication slot on the primary; an
// error wrapping wal.ErrNoSlot when there is none.
func (s *session) Slot(ctx context.Context) (wal.SlotState, error) {
	c, err := s.sql(ctx)
	if err != nil {
		return wal.SlotState{}, err
	}
	defer closeSQL(c)
	return wal.Slot(ctx, c.PgConn(), s.slot)
}

// closeSQL closes a connection, bounded: a dead server cannot hold it.
func closeSQL(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

func closeRepl(c *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// oneName checks the core asked about one pseudo-database.
func oneName(databases []string) error {
	if len(databases) != 1 {
		return fmt.Errorf("a PostgreSQL primary is protected as one cluster: name it with a single database name (e.g. \"cluster\"), not %d", len(databases))
	}
	return nil
}

func (s *session) ObservePrimary(ctx context.Context, databases []string, since time.Time) ([]engine.PrimaryDatabase, error) {
	if err := oneName(databases); err != nil {
		return nil, err
	}
	c, err := s.sql(ctx)
	if err != nil {
		return nil, err
	}
	defer closeSQL(c)
	var (
		recovery bool
		sysid    string
		tli      int64
		readOnly string
	)
	// A primary's timeline is the one it writes on (the first 8 hex digits
	// of its current WAL file's name), the one IDENTIFY_SYSTEM and its
	// backups report: pg_control_checkpoint() names the last checkpoint's,
	// which lags behind a promotion until the checkpoint after it.
	err = c.QueryRow(ctx, `SELECT pg_is_in_recovery(), s.system_identifier::text,
	CASE WHEN pg_is_in_recovery() THEN k.timeline_id
	ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint END,
	current_setting('default_transaction_read_only')
	FROM pg_control_system() s, pg_control_checkpoint() k`).Scan(&recovery, &sysid, &tli, &readOnly)
	if err != nil {
		return nil, fmt.Errorf("reading the primary's state: %w", err)
	}
	d := engine.PrimaryDatabase{
		Name:   databases[0],
		Exists: true,
		State:  StateOnline,
		// WAL at wal_level replica or above carries everything a standby
		// replays: what the planner knows as SQL Server's FULL recovery
		// model (wal_level minimal cannot take a base backup at all).
		RecoveryModel: "FULL",
		Identity:      family(sysid, uint32(tli)),
	}
	switch {
	case recovery:
		d.State = StateInRecovery
	case readOnly == "on":
		d.State = StateReadOnly
	}
	if recovery {
		d.NoChainWhy = "the server is in recovery (a standby): drsctl backs up a primary; point the primary's connection at the server that accepts writes"
		return []engine.PrimaryDatabase{d}, nil
	}
	var typ, status string
	var noRestart bool
	var held, safe int64
	err = c.QueryRow(ctx, `SELECT slot_type, coalesce(wal_status, ''), restart_lsn IS NULL,
	coalesce((pg_current_wal_lsn() - restart_lsn)::bigint, 0), coalesce(safe_wal_size, -1)
	FROM pg_replication_slots WHERE slot_name = $1`, s.slot).Scan(&typ, &status, &noRestart, &held, &safe)
	if err == nil && typ == "physical" {
		d.Retained = &engine.Retention{Bytes: held, SafeBytes: safe, Status: status}
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		d.NoChainWhy = fmt.Sprintf("replication slot %q is missing on the primary (dropped, or never created): WAL since the last log backup cannot be taken; a new base backup starts a new chain", s.slot)
	case err != nil:
		return nil, fmt.Errorf("reading replication slot %q: %w", s.slot, err)
	case typ != "physical":
		d.NoChainWhy = fmt.Sprintf("replication slot %q on the primary is a %s slot, not drsctl's physical one: drop it (SELECT pg_drop_replication_slot('%s')) if nothing else uses it; a new base backup then starts a new chain", s.slot, typ, s.slot)
	case status == "lost" || noRestart:
		d.NoChainWhy = fmt.Sprintf("replication slot %q on the primary lost the WAL it held (more WAL was written than max_slot_wal_keep_size lets a slot keep): WAL since the last log backup is gone; a new base backup starts a new chain (raise max_slot_wal_keep_size or back up logs more often)", s.slot)
	default:
		d.LogChain = true
	}
	return []engine.PrimaryDatabase{d}, nil
}

func (s *session) Backup(ctx context.Context, req engine.BackupRequest, progress engine.Progress) (artifact.Header, error) {
	if progress == nil {
		progress = engine.NoProgress
	}
	if req.Sink == nil {
		return artifact.Header{}, errors.New("postgres: a backup needs a sink to write into (drsctl carries PostgreSQL backups itself): this is a drsctl bug")
	}
	if req.CopyOnly {
		req.Sink.Abort(errors.New("copy-only refused"))
		return artifact.Header{}, errors.New("a copy-only backup of a PostgreSQL primary is not supported")
	}
	switch req.Kind {
	case artifact.Full:
		return s.backupFull(ctx, req, progress)
	case artifact.Log:
		return s.backupLog(ctx, req)
	default:
		err := fmt.Errorf("a PostgreSQL primary takes full (base) and log (WAL) backups, not %q", req.Kind)
		req.Sink.Abort(err)
		return artifact.Header{}, err
	}
}

// backupFull takes a base backup into req.Sink, making sure first that the
// slot exists and holds WAL from before the backup's start.
func (s *session) backupFull(ctx context.Context, req engine.BackupRequest, progress engine.Progress) (h artifact.Header, err error) {
	committed := false
	defer func() {
		if err != nil && !committed {
			req.Sink.Abort(err)
		}
	}()
	conn, err := s.replication(ctx)
	if err != nil {
		return h, err
	}
	defer closeRepl(conn)
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return h, fmt.Errorf("IDENTIFY_SYSTEM: %w (the role needs the REPLICATION attribute; drsctl's replication connection names a database, so pg_hba.conf matches it by that database's lines, not by \"replication\" ones)", err)
	}
	if err := s.freshSlot(ctx, conn); err != nil {
		return h, err
	}
	var total int64
	if v, qerr := wal.QueryOne(ctx, conn, `SELECT sum(pg_database_size(oid))::bigint FROM pg_database`); qerr == nil {
		total, _ = strconv.ParseInt(v, 10, 64)
	}
	h = artifact.Header{Kind: artifact.Full, Database: req.Database, Start: time.Now().UTC()}
	w := &noCloseWriter{w: req.Sink, total: total, progress: progress, last: -1}
	res, err := basebackup.TakeWith(ctx, conn, "drsctl "+h.Start.Format(time.RFC3339), basebackup.Options{NoWait: true},
		func() (io.WriteCloser, error) { return w, nil })
	if err != nil {
		return h, err
	}
	if err := ctx.Err(); err != nil {
		return h, err // cancelled: a run being stopped stores nothing
	}
	if err := req.Sink.Commit(); err != nil {
		committed = true // a failed Commit leaves nothing; no Abort after it
		return h, fmt.Errorf("storing the base backup: %w", err)
	}
	progress.Step(100, "")
	h.Finish = time.Now().UTC()
	h.FirstLSN = lsnOf(res.StartLSN)
	h.CheckpointLSN = h.FirstLSN
	h.LastLSN = lsnOf(res.EndLSN)
	h.FamilyGUID = family(sys.SystemID, res.Timeline)
	return h, nil
}

// freshSlot makes sure drsctl's slot exists and holds WAL: created when
// missing, dropped and created again when it lost its WAL (a new base
// backup starts a new chain anyway). A healthy slot is left alone: until
// the ledger records this backup, the older chain may still need what it
// holds; the next log backup moves it on.
func (s *session) freshSlot(ctx context.Context, conn *pgconn.PgConn) error {
	rows, err := wal.Query(ctx, conn, fmt.Sprintf(`SELECT slot_type, coalesce(wal_status, ''), restart_lsn IS NULL FROM pg_replication_slots WHERE slot_name = '%s'`, s.slot))
	if err != nil {
		return fmt.Errorf("reading replication slot %q: %w", s.slot, err)
	}
	if len(rows) == 1 {
		typ, status, noRestart := rows[0][0], rows[0][1], rows[0][2] == "t"
		if typ != "physical" {
			return fmt.Errorf("replication slot %q on the primary is a %s slot, not drsctl's physical one: drop it (SELECT pg_drop_replication_slot('%s')) if nothing else uses it", s.slot, typ, s.slot)
		}
		if status != "lost" && !noRestart {
			return nil
		}
		if _, err := conn.Exec(ctx, "DROP_REPLICATION_SLOT "+s.slot+" WAIT").ReadAll(); err != nil {
			return fmt.Errorf("dropping replication slot %q, which lost its WAL, to create it again: %w", s.slot, err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE_REPLICATION_SLOT "+s.slot+" PHYSICAL RESERVE_WAL").ReadAll(); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object: another run made it
			return nil
		}
		return fmt.Errorf("creating physical replication slot %q: %w (max_replication_slots must leave one free)", s.slot, err)
	}
	return nil
}

// noCloseWriter passes the base backup to the sink but keeps Close from
// committing it (Take closes its writer on success and failure alike), and
// reports progress against the clusters' size.
type noCloseWriter struct {
	w        io.Writer
	n, total int64
	progress engine.Progress
	last     int
}

func (w *noCloseWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	if w.total > 0 {
		// The estimate (database sizes) leaves out WAL-less files and the
		// manifest: never claim 100 before the end.
		pc := int(min(99, w.n*100/w.total))
		if pc != w.last {
			w.last = pc
			w.progress.Step(pc, "")
		}
	}
	return n, err
}

func (w *noCloseWriter) Close() error { return nil }

// backupLog takes the WAL from req.From (or the slot's position) up to a
// pg_switch_wal boundary into a log artifact, confirming nothing to the
// server: the ledger, which records what was taken, is the truth and the
// slot only the WAL held for it. When the primary no longer holds the WAL
// the chain needs, the error wraps engine.ErrChain: only a new full backup
// helps.
func (s *session) backupLog(ctx context.Context, req engine.BackupRequest) (h artifact.Header, err error) {
	committed := false
	defer func() {
		if err != nil && !committed {
			req.Sink.Abort(err)
		}
	}()
	from, err := pgLSN(req.From)
	if err != nil {
		return h, err
	}
	conn, err := s.replication(ctx)
	if err != nil {
		return h, err
	}
	defer closeRepl(conn)
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return h, fmt.Errorf("IDENTIFY_SYSTEM: %w (the role needs the REPLICATION attribute; drsctl's replication connection names a database, so pg_hba.conf matches it by that database's lines, not by \"replication\" ones)", err)
	}
	segSize, err := wal.SegmentSize(ctx, conn)
	if err != nil {
		return h, err
	}
	slot, err := wal.Slot(ctx, conn, s.slot)
	switch {
	case errors.Is(err, wal.ErrNoSlot):
		return h, fmt.Errorf("%w: replication slot %q is missing on the primary (dropped, or never created): the WAL since the last log backup cannot be taken; a new full (base) backup is needed", engine.ErrChain, s.slot)
	case err != nil:
		return h, err
	case slot.WALStatus == "lost" || slot.RestartLSN == 0:
		return h, fmt.Errorf("%w: replication slot %q on the primary lost the WAL it held (max_slot_wal_keep_size exceeded): the WAL since the last log backup is gone; a new full (base) backup is needed", engine.ErrChain, s.slot)
	}
	start := slot.RestartLSN
	if from != 0 {
		start = from
	}
	start = primSegStart(start, segSize)
	held := primSegStart(slot.RestartLSN, segSize) // the server keeps whole segments
	switch {
	case start < held:
		why := "by hand, or by a tool that manages replication slots"
		if s.slot == SlotName {
			// A session without a ledger of its own shares the one slot.
			why = "by hand, or by another drsctl configuration protecting the same primary through the same slot"
		}
		return h, fmt.Errorf("%w: the log chain continues at %s but replication slot %q holds WAL only from %s: the WAL between is gone from the primary; a new base backup is needed. The slot was moved on outside this configuration's chain: %s", engine.ErrChain, pglogrepl.LSN(from), s.slot, slot.RestartLSN, why)
	case start > slot.RestartLSN:
		flush, err := wal.QueryOne(ctx, conn, `SELECT pg_current_wal_flush_lsn()`)
		if err != nil {
			return h, fmt.Errorf("reading the primary's WAL position: %w", err)
		}
		if f, err := pglogrepl.ParseLSN(flush); err != nil || start > f {
			return h, fmt.Errorf("%w: the log chain continues at %s but the primary's WAL ends at %s: the position recorded is not this server's (another cluster, or one restored from an older backup); a new full (base) backup is needed", engine.ErrChain, pglogrepl.LSN(from), flush)
		}
		// The ledger recorded everything before start: let the server
		// recycle it.
		if err := s.advanceSlot(ctx, conn, start); err != nil {
			return h, err
		}
	}

	h = artifact.Header{Kind: artifact.Log, Database: req.Database, Start: time.Now().UTC()}
	h.FamilyGUID = family(sys.SystemID, uint32(sys.Timeline))
	if !req.NoRecovery && s.nothingToShip(ctx, conn, uint32(sys.Timeline), start, segSize) {
		// An empty log: the open segment holds only background records.
		if err := NewLogWriter(req.Sink).Close(); err != nil {
			return h, fmt.Errorf("writing the log backup: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return h, err
		}
		if err := req.Sink.Commit(); err != nil {
			committed = true
			return h, fmt.Errorf("storing the log backup: %w", err)
		}
		h.Finish = time.Now().UTC()
		h.FirstLSN, h.LastLSN = lsnOf(start), lsnOf(start)
		return h, nil
	}
	if req.NoRecovery {
		undo, err := s.stopWrites(ctx, req.DisconnectUsers)
		if err != nil {
			return h, err
		}
		defer func() {
			if err != nil {
				undo()
			}
		}()
	}

	lw := NewLogWriter(req.Sink)
	end, err := wal.PullWith(ctx, conn, s.slot, start, wal.PullOptions{Hold: true}, func(name string) (io.WriteCloser, error) {
		return &segmentWriter{lw: lw, name: name}, nil
	})
	if err != nil {
		return h, err
	}
	if err := lw.Close(); err != nil {
		return h, fmt.Errorf("writing the log backup: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return h, err
	}
	if err := req.Sink.Commit(); err != nil {
		committed = true
		return h, fmt.Errorf("storing the log backup: %w", err)
	}
	h.Finish = time.Now().UTC()
	h.FirstLSN = lsnOf(start)
	h.LastLSN = lsnOf(end)
	return h, nil
}

// advanceSlot moves the slot on to pos, waiting up to wal.BusyWait while
// another connection still holds it (a killed run the server has not yet
// noticed is gone): the same wait a pull gives it.
func (s *session) advanceSlot(ctx context.Context, conn *pgconn.PgConn, pos pglogrepl.LSN) error {
	deadline := time.Now().Add(wal.BusyWait)
	for {
		_, err := wal.QueryOne(ctx, conn, fmt.Sprintf(`SELECT end_lsn FROM pg_replication_slot_advance('%s', '%s')`, s.slot, pos))
		var pgErr *pgconn.PgError
		if err == nil {
			return nil
		}
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return fmt.Errorf("moving replication slot %q on to %s, where the log chain continues: %w", s.slot, pos, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replication slot %q is in use by another connection (another run still taking WAL, or a killed one the server has not noticed yet — it does within wal_sender_timeout): %w", s.slot, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// nothingToShip reports whether a log backup from start would close only
// an open segment of background records (see openSegmentIdle): start is
// the segment being written, and nothing in it was committed. Any error
// reading it is "something to ship": the log backup goes on as usual.
func (s *session) nothingToShip(ctx context.Context, conn *pgconn.PgConn, tli uint32, start pglogrepl.LSN, segSize uint64) bool {
	v, err := wal.QueryOne(ctx, conn, `SELECT pg_current_wal_insert_lsn()`)
	if err != nil {
		return false
	}
	cur, err := pglogrepl.ParseLSN(v)
	if err != nil || primSegStart(cur, segSize) != start {
		return false
	}
	idle, err := s.openSegmentIdle(ctx, tli, start, segSize)
	return err == nil && idle
}

// segmentWriter collects one segment and adds it to the log artifact when
// closed (wal.Pull writes a whole segment, then closes).
type segmentWriter struct {
	lw   *LogWriter
	name string
	seg  []byte
}

func (w *segmentWriter) Write(p []byte) (int, error) {
	w.seg = append(w.seg, p...)
	return len(p), nil
}

func (w *segmentWriter) Close() error { return w.lw.Add(w.name, w.seg) }

func primSegStart(l pglogrepl.LSN, segSize uint64) pglogrepl.LSN {
	return pglogrepl.LSN(uint64(l) / segSize * segSize)
}

// stopWrites makes the primary read-only for a planned switchover:
// default_transaction_read_only on (ALTER SYSTEM, reloaded), then either the
// other client sessions ended (disconnect) or, when one still holds a
// transaction begun before that — which may write — the setting undone and
// ErrInUse. undo makes the primary writable again unless it was read-only
// before stopWrites began (a retried switchover, or the operator's own
// setting): a failed retry leaves it as it found it.
func (s *session) stopWrites(ctx context.Context, disconnect bool) (undo func(), err error) {
	c, err := s.sql(ctx)
	if err != nil {
		return nil, err
	}
	defer closeSQL(c)
	// Already read-only (a retried switchover, or the operator's doing):
	// a failure then leaves it so.
	var was string
	if err := c.QueryRow(ctx, `SELECT current_setting('default_transaction_read_only')`).Scan(&was); err != nil {
		return nil, fmt.Errorf("reading default_transaction_read_only: %w", err)
	}
	undo = func() {
		if was != "on" {
			s.allowWrites()
		}
	}
	if _, err := c.Exec(ctx, `ALTER SYSTEM SET default_transaction_read_only = on`); err != nil {
		return nil, fmt.Errorf("making the primary read-only for the switchover (ALTER SYSTEM SET default_transaction_read_only = on): %w (needs superuser, or GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only)", err)
	}
	if _, err := c.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		undo()
		return nil, fmt.Errorf("reloading the primary's configuration (pg_reload_conf): %w", err)
	}
	// The postmaster reloads, then signals every backend; a backend applies
	// it before its next command. Wait until a new session sees the setting
	// (the postmaster has reloaded and signalled), and a moment for the
	// signals to land.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := s.setting(ctx, "default_transaction_read_only")
		if err != nil {
			undo()
			return nil, err
		}
		if v == "on" {
			break
		}
		if time.Now().After(deadline) {
			undo()
			return nil, errors.New("the primary did not apply default_transaction_read_only = on within 10 s of pg_reload_conf(): see its log (an error in postgresql.auto.conf?)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	var readOnlySince time.Time
	if err := c.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&readOnlySince); err != nil {
		undo()
		return nil, fmt.Errorf("reading the primary's clock: %w", err)
	}
	others := `FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`
	if disconnect {
		if _, err := c.Exec(ctx, `SELECT pg_terminate_backend(pid, 5000) `+others); err != nil {
			undo()
			return nil, fmt.Errorf("ending the primary's other sessions for the switchover: %w (needs superuser or pg_signal_backend)", err)
		}
		return undo, nil
	}
	var n int
	var who string
	if err := c.QueryRow(ctx, `SELECT count(*), coalesce(string_agg(DISTINCT usename || '@' || coalesce(datname, '?'), ', '), '') `+others+
		` AND (backend_xid IS NOT NULL OR (xact_start < $1 AND NOT $2))`, readOnlySince, was == "on").Scan(&n, &who); err != nil {
		undo()
		return nil, fmt.Errorf("looking for sessions still writing on the primary: %w", err)
	}
	if n > 0 {
		undo()
		after := "the primary is writable again"
		if was == "on" {
			after = "the primary stays read-only, as it was before"
		}
		return nil, fmt.Errorf("%w: %d session(s) on the primary (%s) hold a transaction begun before it was made read-only, which may still write: end them, or let drsctl end them (disconnect users); %s", engine.ErrInUse, n, who, after)
	}
	return undo, nil
}

func (s *session) setting(ctx context.Context, name string) (string, error) {
	c, err := s.sql(ctx)
	if err != nil {
		return "", err
	}
	defer closeSQL(c)
	var v string
	if err := c.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	return v, nil
}

// allowWrites undoes stopWrites, best effort (the switchover failed: the
// primary goes on as before).
func (s *session) allowWrites() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.sql(ctx)
	if err != nil {
		return
	}
	defer closeSQL(c)
	if _, err := c.Exec(ctx, `ALTER SYSTEM RESET default_transaction_read_only`); err == nil {
		_, _ = c.Exec(ctx, `SELECT pg_reload_conf()`)
	}
}

func (s *session) Describe(ctx context.Context, serverPath string) (artifact.Header, error) {
	return artifact.Header{}, errors.New("a PostgreSQL server cannot read a backup file: drsctl carries PostgreSQL backups itself")
}
