// Package wal takes WAL segments off a PostgreSQL primary without anything
// configured on it: through the replication protocol, from a physical
// replication slot that keeps every segment not yet taken.
//
// It is made for a caller that runs from cron, not a daemon: each Pull
// closes the current segment (pg_switch_wal), takes every whole segment from
// the slot's position up to that switch, hands each to a sink under its WAL
// file name, confirms it to the server (the slot advances past a segment only
// after its sink closed it without error) and returns. A Pull killed at any
// point loses nothing: the next one starts again at the first segment not
// confirmed.
//
// Out of scope here: timeline switches (a promoted primary's new timeline;
// Pull streams the server's current timeline and fails if the slot's position
// is on another), checking the system identifier against the caller's
// records, and a bound on what the slot retains (max_slot_wal_keep_size).
package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// LSN is a position in the WAL.
type LSN = pglogrepl.LSN

// IdleTimeout bounds the wait for more WAL while WAL is still due (the
// server has it: Pull only asks for what pg_switch_wal closed). Keepalives do
// not count — a stuck walsender or a half-dead connection may still send
// them — only WAL received does.
var IdleTimeout = 90 * time.Second

// BusyWait bounds how long Pull waits for the slot to be released by an
// earlier connection (a killed run whose connection the server has not yet
// noticed is gone).
var BusyWait = 15 * time.Second

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// FileName is the WAL file name of the segment holding lsn on timeline tli:
// timeline, then the segment number in two halves, as pg_walfile_name and
// the server's pg_wal directory spell it. segSize is wal_segment_size.
func FileName(tli uint32, lsn LSN, segSize uint64) string {
	segNo := uint64(lsn) / segSize
	perID := 0x100000000 / segSize
	return fmt.Sprintf("%08X%08X%08X", tli, segNo/perID, segNo%perID)
}

// Pull takes every whole WAL segment the slot still holds up to the current
// segment, which it closes first with pg_switch_wal(), and returns the end of
// the last segment written (a segment boundary: everything before it went
// through the sink).
//
// conn must be a replication connection to a database (libpq URL parameter
// replication=database): it runs both SQL and replication commands. After an
// error, close it. slot is created (physical, reserving WAL from now) when
// missing. Streaming starts at the segment holding from, or, when from is 0,
// at the slot's position.
//
// sink is called once per whole segment, with its WAL file name; the
// segment is confirmed to the server — and the slot may then drop it — only
// once Close returned nil, so Close must make the segment durable where it
// goes (a write that Close does not finish must leave no file under that
// name, or one the next Pull may overwrite with the same bytes).
func Pull(ctx context.Context, conn *pgconn.PgConn, slot string, from LSN, sink func(segmentName string) (io.WriteCloser, error)) (LSN, error) {
	return PullWith(ctx, conn, slot, from, PullOptions{}, sink)
}

// PullOptions change how Pull treats the slot.
type PullOptions struct {
	// Hold confirms nothing to the server: every status reply (to keepalives
	// and after each segment) says write, flush and apply position 0
	// (InvalidXLogRecPtr), which the walsender ignores for the slot
	// (walsender.c ProcessStandbyReplyMessage calls
	// PhysicalConfirmReceivedLocation only for a valid flush position, and
	// that sets restart_lsn to whatever was sent, even backwards). The
	// slot's restart_lsn stays where it was: the caller moves it itself
	// (pg_replication_slot_advance) once it has recorded the WAL taken, so a
	// run whose record is lost takes the same WAL again. A missing slot is
	// an error instead of being created.
	Hold bool
}

// PullWith is Pull with options.
func PullWith(ctx context.Context, conn *pgconn.PgConn, slot string, from LSN, opts PullOptions, sink func(segmentName string) (io.WriteCloser, error)) (LSN, error) {
	if !slotName.MatchString(slot) {
		return 0, fmt.Errorf("replication slot name %q is not valid: use 1 to 63 lower-case letters, digits and underscores", slot)
	}
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("IDENTIFY_SYSTEM: %w (the connection must be a replication connection: add replication=database to the URL; the role needs REPLICATION and pg_hba.conf must allow it)", err)
	}
	tli := uint32(sys.Timeline)
	segSize, err := SegmentSize(ctx, conn)
	if err != nil {
		return 0, err
	}
	start, err := ensureSlot(ctx, conn, slot, !opts.Hold)
	if err != nil {
		return 0, err
	}
	if from != 0 {
		start = from
	}
	start = LSN(uint64(start) / segSize * segSize)

	switchLSN, err := switchWAL(ctx, conn)
	if err != nil {
		return 0, err
	}
	// pg_switch_wal returns the end of its switch record, inside the segment
	// it closed; on a server with nothing written since the last switch, the
	// start of the current segment. Either way the segment boundary at or
	// after it is where the closed WAL ends.
	end := LSN((uint64(switchLSN) + segSize - 1) / segSize * segSize)
	switch {
	case start == end:
		return end, nil // nothing new
	case start > end:
		return 0, fmt.Errorf("asked for WAL from %s but the server's WAL ends at %s: the position recorded is not this server's (another cluster, or one restored from an older backup)", start, end)
	}

	if err := startReplication(ctx, conn, slot, start, tli); err != nil {
		return 0, err
	}
	pos, err := receive(ctx, conn, tli, start, end, segSize, opts.Hold, sink)
	if err != nil {
		return pos, err
	}
	if _, err := pglogrepl.SendStandbyCopyDone(ctx, conn); err != nil {
		return pos, fmt.Errorf("ending replication (CopyDone) after WAL up to %s was taken: %w", pos, err)
	}
	return pos, nil
}

// SegmentSize reads wal_segment_size (bytes in PostgreSQL ≥ 11).
func SegmentSize(ctx context.Context, conn *pgconn.PgConn) (uint64, error) {
	v, err := QueryOne(ctx, conn, `SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'`)
	if err != nil {
		return 0, fmt.Errorf("reading wal_segment_size: %w", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 || n&(n-1) != 0 {
		return 0, fmt.Errorf("wal_segment_size %q is not a power of two in bytes", v)
	}
	return n, nil
}

// ensureSlot returns the slot's restart_lsn, creating the slot when missing
// and create is set.
func ensureSlot(ctx context.Context, conn *pgconn.PgConn, slot string, create bool) (LSN, error) {
	q := fmt.Sprintf(`SELECT slot_type, coalesce(restart_lsn::text, ''), coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = '%s'`, slot)
	rows, err := Query(ctx, conn, q)
	if err != nil {
		return 0, fmt.Errorf("reading replication slot %s: %w", slot, err)
	}
	if len(rows) == 0 && !create {
		return 0, fmt.Errorf("replication slot %s does not exist: %w", slot, ErrNoSlot)
	}
	if len(rows) == 0 {
		// The reply's consistent_point is empty for a physical slot: read
		// the position reserved (the last checkpoint's redo) back.
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE_REPLICATION_SLOT %s PHYSICAL RESERVE_WAL`, slot)).ReadAll(); err != nil {
			return 0, fmt.Errorf("creating physical replication slot %s: %w (needs max_replication_slots > slots in use)", slot, err)
		}
		if rows, err = Query(ctx, conn, q); err != nil || len(rows) != 1 {
			return 0, fmt.Errorf("reading replication slot %s after creating it: %d rows, %v", slot, len(rows), err)
		}
	}
	typ, restart, status := rows[0][0], rows[0][1], rows[0][2]
	switch {
	case typ != "physical":
		return 0, fmt.Errorf("replication slot %s is a %s slot, not a physical one: it belongs to something else; choose another slot name", slot, typ)
	case status == "lost" || restart == "":
		return 0, fmt.Errorf("replication slot %s has lost the WAL it held (wal_status %q, max_slot_wal_keep_size exceeded?): WAL since the last pull is gone; take a new base backup and drop and recreate the slot", slot, status)
	}
	return pglogrepl.ParseLSN(restart)
}

func switchWAL(ctx context.Context, conn *pgconn.PgConn) (LSN, error) {
	v, err := QueryOne(ctx, conn, `SELECT pg_switch_wal()`)
	if err != nil {
		return 0, fmt.Errorf("closing the current WAL segment (pg_switch_wal): %w (the role needs EXECUTE on pg_switch_wal, or superuser)", err)
	}
	return pglogrepl.ParseLSN(v)
}

// startReplication starts streaming, waiting up to BusyWait while the slot
// is still held by another connection.
func startReplication(ctx context.Context, conn *pgconn.PgConn, slot string, start LSN, tli uint32) error {
	deadline := time.Now().Add(BusyWait)
	for {
		err := pglogrepl.StartReplication(ctx, conn, slot, start, pglogrepl.StartReplicationOptions{
			Mode: pglogrepl.PhysicalReplication, Timeline: int32(tli),
		})
		var pgErr *pgconn.PgError
		if err == nil {
			return nil
		}
		if errors.As(err, &pgErr) && pgErr.Code == "55006" && time.Now().Before(deadline) { // object_in_use
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if errors.As(err, &pgErr) && pgErr.Code == "55006" {
			return fmt.Errorf("replication slot %s is in use by another connection (another run still pulling, or a killed one the server has not noticed yet — it does within wal_sender_timeout): %w", slot, err)
		}
		return fmt.Errorf("START_REPLICATION SLOT %s PHYSICAL %s TIMELINE %d: %w", slot, start, tli, err)
	}
}

// receive takes WAL from start to end (segment boundaries), one segment at a
// time, and returns the end of the last segment confirmed.
// With hold, nothing is confirmed: status replies carry position 0.
func receive(ctx context.Context, conn *pgconn.PgConn, tli uint32, start, end LSN, segSize uint64, hold bool, sink func(string) (io.WriteCloser, error)) (LSN, error) {
	confirmed := func(pos LSN) LSN {
		if hold {
			return 0
		}
		return pos
	}
	buf := make([]byte, 0, segSize)
	done := start          // confirmed: every segment before it went through the sink
	next := start          // the position of the next byte expected
	progress := time.Now() // when WAL last arrived
	for done < end {
		rctx, cancel := context.WithDeadline(ctx, progress.Add(IdleTimeout))
		msg, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && rctx.Err() != nil {
				return done, fmt.Errorf("no WAL from the server for %v while waiting for it at %s (up to %s, already closed by pg_switch_wal): the primary or the network is stuck; WAL before %s was stored and confirmed", IdleTimeout, next, end, done)
			}
			return done, fmt.Errorf("receiving WAL at %s: %w", next, err)
		}
		var data []byte
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			data = m.Data
		case *pgproto3.ErrorResponse:
			return done, fmt.Errorf("receiving WAL at %s: %w", next, pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return done, fmt.Errorf("the server ended replication at %s before WAL up to %s was sent (a timeline switch?)", next, end)
		default:
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err != nil {
				return done, err
			}
			if ka.ReplyRequested {
				if err := confirm(ctx, conn, confirmed(done)); err != nil {
					return done, err
				}
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(data[1:])
			if err != nil {
				return done, err
			}
			if x.WALStart != next {
				return done, fmt.Errorf("the server sent WAL from %s where %s was expected", x.WALStart, next)
			}
			if len(x.WALData) > 0 {
				progress = time.Now()
			}
			b := x.WALData
			for len(b) > 0 && done < end {
				n := min(len(b), int(segSize)-len(buf))
				buf = append(buf, b[:n]...)
				b = b[n:]
				next += LSN(n)
				if uint64(len(buf)) < segSize {
					break
				}
				if err := write(sink, FileName(tli, done, segSize), buf); err != nil {
					return done, err
				}
				done += LSN(segSize)
				buf = buf[:0]
				if err := confirm(ctx, conn, confirmed(done)); err != nil {
					return done, err
				}
				progress = time.Now() // the sink's time is not the server's
			}
		}
	}
	return done, nil
}

func write(sink func(string) (io.WriteCloser, error), name string, seg []byte) error {
	w, err := sink(name)
	if err != nil {
		return fmt.Errorf("WAL segment %s: %w", name, err)
	}
	if _, err := w.Write(seg); err != nil {
		_ = w.Close()
		return fmt.Errorf("WAL segment %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("WAL segment %s: %w", name, err)
	}
	return nil
}

// confirm tells the server WAL before pos is safely stored: a physical
// slot's restart_lsn moves to it and the server may recycle what precedes.
func confirm(ctx context.Context, conn *pgconn.PgConn, pos LSN) error {
	err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pos, WALFlushPosition: pos, WALApplyPosition: pos,
	})
	if err != nil {
		return fmt.Errorf("confirming WAL up to %s to the server: %w", pos, err)
	}
	return nil
}

// Query runs sql (simple protocol: it works on a replication connection)
// and returns its rows as text.
func Query(ctx context.Context, conn *pgconn.PgConn, sql string) ([][]string, error) {
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, r := range res {
		for _, row := range r.Rows {
			s := make([]string, len(row))
			for i, v := range row {
				s[i] = string(v)
			}
			rows = append(rows, s)
		}
	}
	return rows, nil
}

// QueryOne runs sql as Query does and returns its one value.
func QueryOne(ctx context.Context, conn *pgconn.PgConn, sql string) (string, error) {
	rows, err := Query(ctx, conn, sql)
	if err != nil {
		return "", err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return "", fmt.Errorf("%s: expected one value, got %d rows", strings.Fields(sql)[1], len(rows))
	}
	return rows[0][0], nil
}

// SlotState is what the primary says about a slot: what status and -check
// show, and what warns before the slot's retention fills the primary's disk
// or max_slot_wal_keep_size drops WAL not yet taken.
type SlotState struct {
	// RestartLSN is the first byte the slot still holds (0 once lost).
	RestartLSN LSN
	// LagBytes is how much WAL the primary has written past RestartLSN:
	// what it keeps in pg_wal for this slot.
	LagBytes int64
	// WALStatus is pg_replication_slots.wal_status: reserved, extended,
	// unreserved (about to be lost) or lost.
	WALStatus string
	// SafeBytes is how much more WAL may be written before the slot is
	// lost (pg_replication_slots.safe_wal_size); -1 when unbounded
	// (max_slot_wal_keep_size = -1, the default).
	SafeBytes int64
	// Active says a connection is streaming from the slot now.
	Active bool
}

// ErrNoSlot is returned by Slot for a slot that does not exist.
var ErrNoSlot = errors.New("replication slot does not exist")

// Slot reads the slot's state. conn is any connection (SQL).
func Slot(ctx context.Context, conn *pgconn.PgConn, slot string) (SlotState, error) {
	if !slotName.MatchString(slot) {
		return SlotState{}, fmt.Errorf("replication slot name %q is not valid", slot)
	}
	rows, err := Query(ctx, conn, fmt.Sprintf(`SELECT coalesce(restart_lsn::text, ''),
	coalesce((pg_current_wal_lsn() - restart_lsn)::bigint, 0), coalesce(wal_status, ''),
	coalesce(safe_wal_size, -1), active
	FROM pg_replication_slots WHERE slot_name = '%s'`, slot))
	if err != nil {
		return SlotState{}, fmt.Errorf("reading replication slot %s: %w", slot, err)
	}
	if len(rows) == 0 {
		return SlotState{}, fmt.Errorf("%s: %w", slot, ErrNoSlot)
	}
	r := rows[0]
	var s SlotState
	if r[0] != "" {
		if s.RestartLSN, err = pglogrepl.ParseLSN(r[0]); err != nil {
			return s, err
		}
	}
	if s.LagBytes, err = strconv.ParseInt(r[1], 10, 64); err != nil {
		return s, err
	}
	s.WALStatus = r[2]
	if s.SafeBytes, err = strconv.ParseInt(r[3], 10, 64); err != nil {
		return s, err
	}
	s.Active = r[4] == "t"
	return s, nil
}
