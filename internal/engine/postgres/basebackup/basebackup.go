// Package basebackup takes a PostgreSQL base backup over the replication
// protocol (BASE_BACKUP) and streams it into one artifact, then unpacks and
// verifies that artifact where a standby is to be built.
//
// The artifact is ONE plain tar (ustar/PAX) of the data directory: the
// server's own tar stream of the default tablespace, passed through byte for
// byte, minus its end-of-archive blocks, followed by one member
// "backup_manifest" (the server's manifest, SHA-256 checksums per file) and a
// new end-of-archive. `tar -xf artifact -C emptydir` therefore gives a data
// directory that pg_verifybackup -n accepts and a standby starts from (WAL is
// not included: it ships separately and reaches the standby through
// restore_command). Nothing is buffered whole except the manifest (a few
// hundred bytes per file in the cluster).
//
// Out of scope: tablespaces other than the default one (Take refuses them),
// compression, throttling, and incremental backups.
package basebackup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// LSN is a position in the WAL.
type LSN = pglogrepl.LSN

// ManifestName is the artifact member (and file in an unpacked directory)
// holding the server's backup manifest.
const ManifestName = "backup_manifest"

// IdleTimeout bounds the wait for more data from the server once the backup
// started (the checkpoint before the first message is bounded by ctx only: a
// fast checkpoint on a large dirty cluster may take minutes). At the end the
// server waits until archive_command archived the backup's last segment
// (BASE_BACKUP's default WAIT, kept: a base backup without its WAL archived
// is no use); a failing archive_command therefore ends Take after
// IdleTimeout, not never.
var IdleTimeout = 2 * time.Minute

// Result describes a base backup written through the sink.
type Result struct {
	// StartLSN and EndLSN are the WAL range a restore must replay (from the
	// checkpoint's redo point to the backup's end) to be consistent;
	// Timeline is the timeline they are on.
	StartLSN, EndLSN LSN
	Timeline         uint32
	// Size and SHA256 (hex) describe the bytes written to the sink.
	Size   int64
	SHA256 string
	// ManifestSHA256 (hex) is the checksum of the backup_manifest member.
	ManifestSHA256 string
}

// Take runs BASE_BACKUP (LABEL label, fast checkpoint, manifest with SHA-256
// checksums, no WAL) on conn, a replication connection (libpq URL parameter
// replication=database or replication=true) whose role has the REPLICATION
// attribute, and streams the artifact described in the package comment into
// the one writer sink returns. The artifact is complete only when Take
// returns nil: Close's error is Take's error.
//
// On error Take closes conn (the server then abandons the backup; a
// half-read COPY stream cannot be resumed), closes the sink's writer, and
// returns what went wrong; the caller must discard what the sink received.
func Take(ctx context.Context, conn *pgconn.PgConn, label string, sink func() (io.WriteCloser, error)) (res Result, err error) {
	return TakeWith(ctx, conn, label, Options{}, sink)
}

// Options change what Take asks of the server.
type Options struct {
	// NoWait sends BASE_BACKUP's WAIT false: the server does not wait for
	// archive_command to archive the backup's last WAL segment. For a
	// caller that takes WAL itself from a replication slot created before
	// the backup started (the slot holds that WAL), waiting only ties the
	// backup to an archiver it does not use, and a failing archive_command
	// would stall it until IdleTimeout.
	NoWait bool
}

// TakeWith is Take with options.
func TakeWith(ctx context.Context, conn *pgconn.PgConn, label string, opts Options, sink func() (io.WriteCloser, error)) (res Result, err error) {
	var w io.WriteCloser
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
		if w != nil {
			_ = w.Close()
		}
	}()

	start, err := pglogrepl.StartBaseBackup(ctx, conn, pglogrepl.BaseBackupOptions{
		Label:             label,
		Fast:              true,
		Manifest:          true,
		ManifestChecksums: "SHA256",
		NoWait:            opts.NoWait,
	})
	if err != nil {
		return res, fmt.Errorf("BASE_BACKUP: %w (the connection must be a replication connection — replication=database in the URL — by a role with REPLICATION allowed by pg_hba.conf, and max_wal_senders must leave one free)", err)
	}
	for _, ts := range start.Tablespaces {
		return res, fmt.Errorf("the cluster has a tablespace outside the data directory (OID %d at %s): drsctl backs up only clusters whose data all lives in the default tablespaces; move it with ALTER TABLE/INDEX … SET TABLESPACE pg_default and DROP TABLESPACE", ts.OID, ts.Location)
	}
	res.StartLSN, res.Timeline = start.LSN, uint32(start.TimelineID)

	w, err = sink()
	if err != nil {
		return res, fmt.Errorf("open the base backup's destination: %w", err)
	}
	out := &counter{w: w, h: sha256.New()}
	body := &holdback{w: out}
	var manifest bytes.Buffer
	var archives int
	inManifest := false

	// Only data moves the deadline on: the server's warnings while it waits
	// for archive_command ("still waiting for all required WAL segments to
	// be archived", every 60 s and more) do not.
	deadline := time.Now().Add(IdleTimeout)
	var lastNotice string
	for done := false; !done; {
		mctx, cancel := context.WithDeadline(ctx, deadline)
		msg, rerr := conn.ReceiveMessage(mctx)
		cancel()
		if rerr != nil {
			if ctx.Err() == nil && mctx.Err() != nil {
				hint := "the server may be waiting for archive_command to archive the backup's last WAL segment (see its log), or the connection is dead"
				if lastNotice != "" {
					hint = "the server said: " + lastNotice
				}
				return res, fmt.Errorf("base backup: nothing received from the server for %s (%s): %w", IdleTimeout, hint, rerr)
			}
			return res, fmt.Errorf("base backup: receive: %w", rerr)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyOutResponse, *pgproto3.ParameterStatus:
		case *pgproto3.NoticeResponse:
			lastNotice = m.Message
		case *pgproto3.ErrorResponse:
			return res, fmt.Errorf("base backup: the server failed it: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			done = true
		case *pgproto3.CopyData:
			deadline = time.Now().Add(IdleTimeout)
			if len(m.Data) == 0 {
				return res, errors.New("base backup: empty COPY message from the server")
			}
			switch m.Data[0] {
			case 'n': // new archive: name\0 tablespace path\0
				archives++
				if archives > 1 || inManifest {
					return res, fmt.Errorf("base backup: the server sent a second archive (%q): only the default tablespace is supported", cstring(m.Data[1:]))
				}
			case 'm': // the manifest follows
				inManifest = true
			case 'd':
				if inManifest {
					manifest.Write(m.Data[1:])
				} else if archives == 1 {
					if _, err := body.Write(m.Data[1:]); err != nil {
						return res, fmt.Errorf("write the base backup: %w", err)
					}
				} else {
					return res, errors.New("base backup: the server sent data before naming its archive")
				}
			case 'p': // progress: ignored
			default:
				return res, fmt.Errorf("base backup: unknown COPY message type %q: is this PostgreSQL 15 or later?", m.Data[0])
			}
		default:
			return res, fmt.Errorf("base backup: unexpected message %T from the server", msg)
		}
	}
	if archives != 1 || !inManifest || manifest.Len() == 0 {
		return res, fmt.Errorf("base backup: the server's stream ended without the data directory's archive or its manifest (%d archive(s), manifest %d bytes)", archives, manifest.Len())
	}
	if err := body.finish(); err != nil {
		return res, err
	}
	tw := tar.NewWriter(out)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(manifest.Len()), ModTime: time.Now(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return res, fmt.Errorf("write the base backup: %w", err)
	}
	if _, err := tw.Write(manifest.Bytes()); err != nil {
		return res, fmt.Errorf("write the base backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return res, fmt.Errorf("write the base backup: %w", err)
	}

	end, err := pglogrepl.FinishBaseBackup(ctx, conn)
	if err != nil {
		return res, fmt.Errorf("base backup: finishing: %w", err)
	}
	if uint32(end.TimelineID) != res.Timeline {
		return res, fmt.Errorf("base backup: the timeline changed from %d to %d during the backup (the server was promoted): take it again", res.Timeline, end.TimelineID)
	}
	res.EndLSN = end.LSN
	cw := w
	w = nil
	if err := cw.Close(); err != nil {
		return res, fmt.Errorf("close the base backup's destination: %w", err)
	}
	sum := sha256.Sum256(manifest.Bytes())
	res.ManifestSHA256 = hex.EncodeToString(sum[:])
	res.Size = out.n
	res.SHA256 = hex.EncodeToString(out.h.Sum(nil))
	return res, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// counter hashes and counts what reaches w.
type counter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// endBlocks is the size of a tar's end-of-archive marker: two zero blocks.
const endBlocks = 1024

// holdback passes a tar stream through but keeps its last 1024 bytes back,
// which must be the end-of-archive marker: finish checks they are zeros and
// drops them so that more members can follow.
type holdback struct {
	w    io.Writer
	tail []byte
}

func (h *holdback) Write(p []byte) (int, error) {
	if len(h.tail)+len(p) <= endBlocks {
		h.tail = append(h.tail, p...)
		return len(p), nil
	}
	// Emit all but the last endBlocks bytes of tail+p.
	emit := len(h.tail) + len(p) - endBlocks
	fromTail := min(emit, len(h.tail))
	if _, err := h.w.Write(h.tail[:fromTail]); err != nil {
		return 0, err
	}
	if rest := emit - fromTail; rest > 0 {
		if _, err := h.w.Write(p[:rest]); err != nil {
			return 0, err
		}
	}
	keep := append([]byte(nil), h.tail[fromTail:]...)
	h.tail = append(keep, p[emit-fromTail:]...)
	return len(p), nil
}

func (h *holdback) finish() error {
	if len(h.tail) != endBlocks || bytes.Count(h.tail, []byte{0}) != endBlocks {
		return errors.New("base backup: the server's tar stream does not end with an end-of-archive marker: it is incomplete or not a tar")
	}
	return nil
}
