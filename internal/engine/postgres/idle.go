package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/engine/postgres/wal"
	"github.com/jackc/pgx/v5/pgproto3"
)

// An idle primary still writes WAL: after each pg_switch_wal the
// background writer logs a running-transactions snapshot, and a checkpoint
// follows within checkpoint_timeout. Closing such a segment on every run
// ships one segment of background records each time, and the next switch
// causes the next snapshot. openSegmentIdle reads the segment a log backup
// would close — from its start to the flushed end — and reports whether
// every record in it is a background one: no transaction ID, from the
// XLOG or standby resource managers, and no restore point (one not yet
// flushed is not seen: it ships with the next commit). Then nothing a
// standby's reader could see was committed in it, and the log backup
// leaves it open: it ships with the first commit after it. Anything else —
// a record of any other kind, a record continued from the previous segment,
// a last record not yet whole, or bytes that do not parse exactly to the
// flushed end — counts as activity, and the segment is closed as usual.
//
// Record layout (src/include/access/xlogrecord.h, xlog_internal.h):
// pages of wal_block_size bytes, each with a header (40 bytes at a
// segment's start, 24 elsewhere); records MAXALIGNed (8), their 24-byte
// header beginning xl_tot_len (4), xl_xid (4), xl_prev (8), xl_info (1),
// xl_rmid (1); a record may span pages, its header too past its first
// 8 bytes.

// idleReadLimit bounds what openSegmentIdle reads: more WAL than this in
// the open segment is taken for activity without reading it.
const idleReadLimit = 1 << 20

const (
	rmXLOG         = 0
	rmStandby      = 8
	xlogRestorePt  = 0x70 // XLOG_RESTORE_POINT
	xlpContRecord  = 0x0001
	walRecordHdr   = 24
	walLongPageHdr = 40
	walShortPage   = 24
)

// backgroundOnly parses WAL from a segment's start (b: every byte up to the
// flushed end) and reports whether it holds only background records.
func backgroundOnly(b []byte, pageSize int) bool {
	if pageSize <= walLongPageHdr || pageSize%8 != 0 || len(b) < walLongPageHdr {
		return false
	}
	if binary.LittleEndian.Uint16(b[2:4])&xlpContRecord != 0 {
		return false
	}
	// The record stream without page headers: page headers are multiples of
	// 8 bytes, so alignment is the same as in WAL positions.
	c := make([]byte, 0, len(b))
	for off := 0; off < len(b); off += pageSize {
		hdr := walShortPage
		if off == 0 {
			hdr = walLongPageHdr
		}
		end := min(off+pageSize, len(b))
		if off+hdr > end {
			return false // the flushed end inside a page header: not a record's end
		}
		c = append(c, b[off+hdr:end]...)
	}
	o := 0
	for o < len(c) {
		if o+walRecordHdr > len(c) {
			return false
		}
		tot := int(binary.LittleEndian.Uint32(c[o:]))
		xid := binary.LittleEndian.Uint32(c[o+4:])
		info, rmid := c[o+16], c[o+17]
		switch {
		case tot < walRecordHdr || o+tot > len(c):
			return false // not a record, or not yet whole
		case xid != 0:
			return false
		case rmid != rmXLOG && rmid != rmStandby:
			return false
		case rmid == rmXLOG && info&0xF0 == xlogRestorePt:
			return false
		}
		o += (tot + 7) &^ 7
	}
	// The flushed end is a record's end: the last record's padding (if any)
	// is not yet written.
	return o >= len(c) && o-len(c) < 8
}

// openSegmentIdle reads the open segment [segStart, flushed end) through a
// replication connection of its own (no slot: the segment is the current
// one and in pg_wal) and applies backgroundOnly. Any doubt is activity.
func (s *session) openSegmentIdle(ctx context.Context, tli uint32, segStart pglogrepl.LSN, segSize uint64) (bool, error) {
	conn, err := s.replication(ctx)
	if err != nil {
		return false, err
	}
	defer closeRepl(conn)
	rows, err := wal.Query(ctx, conn, `SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text,
	current_setting('wal_block_size'), (SELECT setting FROM pg_settings WHERE name = 'wal_writer_delay')`)
	if err != nil || len(rows) != 1 {
		return false, fmt.Errorf("reading the primary's WAL position: %v", err)
	}
	var pageSize, delayMS int
	if _, err := fmt.Sscan(rows[0][2], &pageSize); err != nil {
		return false, err
	}
	if _, err := fmt.Sscan(rows[0][3], &delayMS); err != nil {
		return false, err
	}
	if rows[0][0] != rows[0][1] {
		// WAL inserted and not yet flushed. The walsender sends only flushed
		// WAL; a commit with synchronous_commit on is flushed before it is
		// acknowledged, and one with it off within three times
		// wal_writer_delay ("Asynchronous Commit", 30.4). Past that wait,
		// what is still unflushed holds no acknowledged commit; read up to
		// the flushed end.
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(3*time.Duration(delayMS)*time.Millisecond + 100*time.Millisecond):
		}
		if rows, err = wal.Query(ctx, conn, `SELECT pg_current_wal_flush_lsn()::text`); err != nil || len(rows) != 1 {
			return false, fmt.Errorf("reading the primary's WAL position: %v", err)
		}
		rows[0] = []string{"", rows[0][0]}
	}
	flush, err := pglogrepl.ParseLSN(rows[0][1])
	if err != nil {
		return false, err
	}
	switch {
	case flush <= segStart || flush-segStart >= pglogrepl.LSN(segSize):
		return false, nil // nothing written, or the segment is closed already
	case flush-segStart > idleReadLimit:
		return false, nil // background records alone are a few KB: activity
	}
	want := int(flush - segStart)
	conn.Frontend().SendQuery(&pgproto3.Query{String: fmt.Sprintf("START_REPLICATION PHYSICAL %s TIMELINE %d", segStart, tli)})
	if err := conn.Frontend().Flush(); err != nil {
		return false, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	buf := make([]byte, 0, want)
	next := segStart
	for len(buf) < want {
		msg, err := conn.ReceiveMessage(rctx)
		if err != nil {
			return false, fmt.Errorf("reading the open WAL segment: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return false, fmt.Errorf("reading the open WAL segment: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return false, errors.New("reading the open WAL segment: the server ended the stream")
		case *pgproto3.CopyData:
			if len(m.Data) == 0 || m.Data[0] != pglogrepl.XLogDataByteID {
				continue // keepalives: no reply needed in this short read
			}
			x, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return false, err
			}
			if x.WALStart != next {
				return false, fmt.Errorf("reading the open WAL segment: the server sent %s where %s was expected", x.WALStart, next)
			}
			n := min(len(x.WALData), want-len(buf))
			buf = append(buf, x.WALData[:n]...)
			next += pglogrepl.LSN(len(x.WALData))
		}
	}
	return backgroundOnly(buf, pageSize), nil
}
