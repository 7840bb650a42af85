package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/postgres/basebackup"
)

// ReplayTimeout bounds the wait, in a log restore, for the standby to replay
// the WAL just shipped (besides the caller's context).
var ReplayTimeout = 2 * time.Minute

// ObserveStandby describes the standby cluster, once per name asked (a
// PostgreSQL target holds one cluster, not databases).
func (s *session) ObserveStandby(ctx context.Context, databases []string) ([]engine.StandbyDatabase, error) {
	if s.site.DataDir == "" {
		return nil, errors.New(errNoDataDir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]engine.StandbyDatabase, 0, len(databases))
	for _, name := range databases {
		d.Name = name
		out = append(out, d)
	}
	return out, nil
}

func (s *session) observe(ctx context.Context) (engine.StandbyDatabase, error) {
	dir := s.site.DataDir
	var d engine.StandbyDatabase
	m, err := s.readMarker()
	if err != nil {
		return d, err
	}
	_, first, err := dirState(dir)
	if err != nil {
		return d, fmt.Errorf("reading the data directory %s: %w", dir, err)
	}
	switch {
	case m == nil && first == "":
		d.State, d.RawState = engine.Absent, "no cluster in "+dir
		return d, nil
	case m == nil:
		d.State, d.RawState = engine.Other, "a cluster drsctl did not create is in "+dir
		return d, nil
	case m.Seeding != nil:
		d.State = engine.Restoring
		d.RawState = fmt.Sprintf("seeding from %s, started %s, was interrupted", m.Seeding.From, m.Seeding.At.UTC().Format(time.RFC3339))
		return d, nil
	case first == "":
		d.State = engine.Absent
		d.RawState = fmt.Sprintf("drsctl's record %s is there but the data directory %s is empty or missing", filepath.Join(s.sidecar(), MarkerFile), dir)
		return d, nil
	}
	d.LastRestore, d.SeedRestore = m.Last.record(), m.Seed.record()
	if m.Last != nil {
		d.RedoLSN = m.Last.LastLSN
	}
	if !s.running() {
		if why := s.promotedWhy(m); why != "" {
			// A primary now, whether up or not: never a standby to feed.
			d.State, d.RawState, d.RedoLSN = engine.Online, why+"; stopped", ""
			return d, nil
		}
		d.State, d.RawState = engine.Restoring, "stopped (the next log restore starts it)"
		return d, nil
	}
	conn, notReady, err := s.probe(ctx)
	if err != nil {
		return d, err
	}
	if conn == nil {
		d.State, d.RawState = engine.Restoring, notReady
		return d, nil
	}
	defer closeSQL(conn)
	var inRecovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
		return d, fmt.Errorf("asking the standby whether it is in recovery: %w", queryError(err))
	}
	if inRecovery {
		d.State, d.RawState = engine.Standby, "hot standby (read-only), replaying shipped WAL"
	} else {
		d.State, d.RawState = engine.Online, "promoted: out of recovery, read-write"
		d.RedoLSN = ""
	}
	return d, nil
}

// probe connects for SQL. A server that is not accepting connections yet —
// starting up, not yet consistent (SQLSTATE 57P03), or no listener — is
// not an error: conn is nil and notReady says why.
func (s *session) probe(ctx context.Context) (conn *pgx.Conn, notReady string, err error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, s.dsn)
	if err == nil {
		return c, "", nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57P03" {
		return nil, "starting: " + pgErr.Message + " (it needs more WAL to become consistent)", nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return nil, "starting: not accepting connections yet", nil
	}
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	return nil, "", connectError(err)
}

// queryError keeps the server's words and SQLSTATE.
func queryError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	return err
}

func (s *session) Restore(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	if s.site.DataDir == "" {
		return errors.New(errNoDataDir)
	}
	if progress == nil {
		progress = engine.NoProgress
	}
	if req.Source == nil {
		return errors.New("postgres: a restore needs the backup's Source (drsctl carries PostgreSQL backups itself)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Kind {
	case artifact.Full:
		return s.restoreFull(ctx, req, progress)
	case artifact.Log:
		return s.restoreLog(ctx, req, progress)
	}
	return fmt.Errorf("postgres: cannot restore a backup of kind %q", req.Kind)
}

// restoreFull builds the standby from a base backup: into an empty or
// missing data directory, or over drsctl's own standby with Replace —
// never over a cluster drsctl did not create. Standby and norecovery are
// the same here: the standby is always a hot standby.
func (s *session) restoreFull(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	dir := s.site.DataDir
	m, err := s.readMarker()
	if err != nil {
		return err
	}
	_, first, err := dirState(dir)
	if err != nil {
		return fmt.Errorf("reading the data directory %s: %w", dir, err)
	}
	if first != "" {
		switch {
		case m == nil:
			return fmt.Errorf("a cluster drsctl did not create is in %s (it holds %s): drsctl never replaces it; point data_dir at an empty directory, or empty this one yourself if it is not needed", dir, first)
		case !req.Replace:
			return fmt.Errorf("drsctl's standby is already in %s: building it again from a full backup replaces it, which this restore was not asked to do", dir)
		}
		progress.Step(0, "stopping the standby to replace it")
		if err := s.stop(ctx); err != nil {
			return err
		}
		if err := removeContents(dir); err != nil {
			return fmt.Errorf("emptying %s to replace drsctl's standby: %w", dir, err)
		}
	}
	if err := removeContents(s.inbox()); err != nil {
		return fmt.Errorf("emptying the WAL inbox %s: %w", s.inbox(), err)
	}
	// The record goes first: a seed killed half-way is then drsctl's to
	// replace, not a foreign cluster.
	nm := &marker{Seeding: &seeding{From: req.ServerPath, At: time.Now().UTC()}}
	if err := s.writeMarker(nm); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	progress.Step(0, "unpacking the base backup into "+dir)
	rc, err := req.Source(ctx)
	if err != nil {
		return fmt.Errorf("opening the base backup %s: %w", req.ServerPath, err)
	}
	uerr := basebackup.Unpack(ctxReader{ctx, rc}, dir)
	if err := errors.Join(uerr, rc.Close()); err != nil {
		return fmt.Errorf("unpacking the base backup %s: %w", req.ServerPath, err)
	}
	progress.Step(50, "verifying the unpacked base backup against its manifest")
	if err := basebackup.Verify(dir); err != nil {
		return fmt.Errorf("%w: %w", engine.ErrDamaged, err)
	}
	start, end, tli, err := manifestRange(dir)
	if err != nil {
		return err
	}
	if (!req.FirstLSN.IsZero() && req.FirstLSN != lsnOf(start)) || (!req.LastLSN.IsZero() && req.LastLSN != lsnOf(end)) {
		return fmt.Errorf("the base backup %s covers WAL %s to %s by its manifest, but its record says %s to %s: it is not the backup recorded; take a new full backup", req.ServerPath, start, end, req.FirstLSN.PostgresText(), req.LastLSN.PostgresText())
	}
	for _, f := range []string{"postmaster.pid", "postmaster.opts"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(s.inbox(), 0o700); err != nil {
		return fmt.Errorf("creating the WAL inbox %s: %w", s.inbox(), err)
	}
	if err := s.chownAll(); err != nil {
		return err
	}
	sysid, segSize, err := s.controlData(ctx)
	if err != nil {
		return err
	}
	progress.Step(80, "configuring and starting the standby")
	if err := s.configure(ctx); err != nil {
		return err
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	e := &restoreEntry{At: time.Now().UTC(), Kind: artifact.Full, FirstLSN: lsnOf(start), LastLSN: lsnOf(end), Path: req.ServerPath, Family: family(sysid, tli)}
	nm.Seeding, nm.Seed, nm.Last = nil, e, e
	nm.SystemID, nm.SegmentSize, nm.Timeline = sysid, segSize, tli
	nm.ConsistentAt = lsnOf(end)
	nm.Next = lsnOf(pglogrepl.LSN(uint64(start) / segSize * segSize))
	if err := s.writeMarker(nm); err != nil {
		return err
	}
	progress.Step(100, "standby started; it accepts connections once the WAL up to the backup's end is shipped")
	return nil
}

// manifestRange reads the WAL range the base backup needs from its
// manifest (one timeline: a backup taken during a timeline switch is not
// supported).
func manifestRange(dir string) (start, end pglogrepl.LSN, tli uint32, err error) {
	b, err := os.ReadFile(filepath.Join(dir, basebackup.ManifestName))
	if err != nil {
		return 0, 0, 0, err
	}
	man, err := basebackup.ParseManifest(b)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(man.WALRanges) != 1 {
		return 0, 0, 0, fmt.Errorf("the base backup's manifest lists %d WAL ranges; drsctl restores backups on one timeline: take a new full backup", len(man.WALRanges))
	}
	r := man.WALRanges[0]
	if start, err = pglogrepl.ParseLSN(r.StartLSN); err == nil {
		end, err = pglogrepl.ParseLSN(r.EndLSN)
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("the base backup's manifest has an unreadable WAL range: %w", err)
	}
	return start, end, r.Timeline, nil
}

// configure makes the unpacked base backup a hot standby fed by the WAL
// inbox. postgresql.auto.conf is read last, so these override what the
// primary's postgresql.conf (part of the backup) says.
func (s *session) configure(ctx context.Context) error {
	dir := s.site.DataDir
	fetch, err := s.d.fetchCommand()
	if err != nil {
		return err
	}
	if err := s.canRun(ctx, fetch); err != nil {
		return err
	}
	restore := shellQuote(fetch) + " wal-fetch -dir " + shellQuote(s.inbox())
	restore = strings.ReplaceAll(restore, "%", "%%") + " %f %p"
	var c strings.Builder
	c.WriteString("\n# Added by drsctl: a hot standby replaying the WAL drsctl ships into its inbox.\n")
	fmt.Fprintf(&c, "port = %d\n", s.port)
	sockets := ""
	if strings.HasPrefix(s.host, "/") {
		sockets = s.host // the connection goes through this socket directory
	} else if s.host != "" {
		fmt.Fprintf(&c, "listen_addresses = %s\n", confQuote(s.host))
	}
	if sockets == "" {
		sockets, err = s.socketDirs(ctx)
		if err != nil {
			return err
		}
	}
	if sockets != "" {
		fmt.Fprintf(&c, "unix_socket_directories = %s\n", confQuote(sockets))
	}
	c.WriteString("hot_standby = on\n")
	fmt.Fprintf(&c, "restore_command = %s\n", confQuote(restore))
	c.WriteString("archive_mode = off\n")
	c.WriteString("primary_conninfo = ''\n")
	// Explicit, whatever the primary's configuration carried in the backup
	// says: follow a newer timeline when its history file is shipped.
	c.WriteString("recovery_target_timeline = 'latest'\n")
	// A shipped segment is picked up within a second (the default, 5 s,
	// adds to every log restore's confirmation).
	c.WriteString("wal_retrieve_retry_interval = '1s'\n")
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.auto.conf"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(c.String())
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("configuring the standby (postgresql.auto.conf): %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "standby.signal"), nil, 0o600); err != nil {
		return err
	}
	return s.chownAll()
}

// canRun checks that the cluster's OS user can run the restore_command's
// program: one it cannot (drsctl under /root, say) fails with exit 126,
// which ends the standby's recovery instead of waiting.
func (s *session) canRun(ctx context.Context, prog string) error {
	if !filepath.IsAbs(prog) {
		return fmt.Errorf("the standby's restore_command needs drsctl's absolute path, not %q", prog)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "runuser", "-u", s.d.osUser(), "--", "test", "-x", prog)
	cmd.Dir = "/"
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the standby's restore_command runs %s as the OS user %s, who cannot execute it (%v): install drsctl where %s can run it (e.g. /usr/local/bin, every directory on the way traversable) and run that copy", prog, s.d.osUser(), err, s.d.osUser())
	}
	return nil
}

// socketDirs returns the unix_socket_directories the standby must use
// instead of the configured ones when none of those exist on this host (the
// primary's configuration came with the backup), else "" (keep them).
func (s *session) socketDirs(ctx context.Context) (string, error) {
	out, err := s.run(ctx, "postgres", "-D", s.site.DataDir, "-C", "unix_socket_directories")
	if err != nil {
		return "", fmt.Errorf("reading the standby's unix_socket_directories: %w", err)
	}
	var listed int
	for _, d := range strings.Split(strings.TrimSpace(out), ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		listed++
		if strings.HasPrefix(d, "@") { // abstract namespace: nothing to exist
			return "", nil
		}
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return "", nil
		}
	}
	if listed == 0 {
		return "", nil
	}
	return s.sidecar(), nil
}

// shellQuote quotes a word for /bin/sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// confQuote quotes a value for postgresql.conf.
func confQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ctxReader ends a read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// segment is a WAL file name taken apart.
type segment struct {
	name  string
	tli   uint32
	segNo uint64
}

func parseSegment(name string, segSize uint64) (segment, error) {
	if !segmentName.MatchString(name) {
		return segment{}, fmt.Errorf("%q is not a WAL segment file name", name)
	}
	tli, _ := strconv.ParseUint(name[:8], 16, 32)
	hi, _ := strconv.ParseUint(name[8:16], 16, 32)
	lo, _ := strconv.ParseUint(name[16:], 16, 32)
	perID := uint64(0x100000000) / segSize
	if lo >= perID {
		return segment{}, fmt.Errorf("%q is not a WAL segment name for %d-byte segments", name, segSize)
	}
	return segment{name: name, tli: uint32(tli), segNo: hi*perID + lo}, nil
}

// restoreLog ships a log backup's segments into the inbox and waits until
// the standby replayed them.
func (s *session) restoreLog(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	dir := s.site.DataDir
	m, err := s.readMarker()
	if err != nil {
		return err
	}
	_, first, err := dirState(dir)
	if err != nil {
		return fmt.Errorf("reading the data directory %s: %w", dir, err)
	}
	switch {
	case m == nil:
		return fmt.Errorf("%w: %s holds no standby drsctl built (no %s beside it): restore a full backup first", engine.ErrChain, dir, filepath.Join(s.sidecar(), MarkerFile))
	case m.Seeding != nil:
		return fmt.Errorf("%w: seeding the standby in %s from %s was interrupted: restore a full backup again", engine.ErrChain, dir, m.Seeding.From)
	case first == "":
		return fmt.Errorf("%w: the data directory %s is empty: restore a full backup first", engine.ErrChain, dir)
	case m.Promoted != nil:
		return fmt.Errorf("%w: the standby in %s was promoted at %s: it takes no more WAL; seed a new standby from a full backup", engine.ErrChain, dir, m.Promoted.UTC().Format(time.RFC3339))
	case m.SegmentSize == 0:
		return fmt.Errorf("drsctl's record %s has no WAL segment size: restore a full backup again", filepath.Join(s.sidecar(), MarkerFile))
	}
	// Stopped without standby.signal, it would start as a primary. (A
	// running one is still what it started as: the plan asked it.)
	if why := s.promotedWhy(m); why != "" && !s.running() {
		return fmt.Errorf("%w: the cluster in %s is %s: it takes no more WAL, and drsctl does not start it; record a failover with `drsctl promote`, or protect it again with `drsctl reprotect` (the next apply replaces it)", engine.ErrChain, dir, why)
	}
	// The inbox may have been removed by a cleanup job: make it again, the
	// cluster's user's (it writes .wanted there).
	if err := os.MkdirAll(s.inbox(), 0o700); err != nil {
		return fmt.Errorf("creating the WAL inbox %s: %w", s.inbox(), err)
	}
	if err := s.chownFile(s.inbox()); err != nil {
		return err
	}
	next, err := pgLSN(m.Next)
	if err != nil {
		return err
	}
	segSize := m.SegmentSize
	progress.Step(0, "shipping WAL segments into "+s.inbox())
	rc, err := req.Source(ctx)
	if err != nil {
		return fmt.Errorf("opening the log backup %s: %w", req.ServerPath, err)
	}
	var firstSeg, prev segment
	var shipped int
	rerr := ReadLog(ctxReader{ctx, rc}, func(name string, r io.Reader) error {
		seg, err := parseSegment(name, segSize)
		if err != nil {
			return err
		}
		if firstSeg.name == "" {
			firstSeg = seg
			if seg.tli != m.Timeline {
				return fmt.Errorf("%w: the log backup is on timeline %d and the standby on timeline %d (the primary was promoted or restored?): drsctl does not follow timeline switches; seed the standby again from a full backup of the new timeline", engine.ErrChain, seg.tli, m.Timeline)
			}
			start := pglogrepl.LSN(seg.segNo * segSize)
			if !req.FirstLSN.IsZero() && req.FirstLSN != lsnOf(start) {
				return fmt.Errorf("the log backup %s begins with segment %s (%s) but its record says it begins at %s: it is not the log backup recorded", req.ServerPath, name, start, req.FirstLSN.PostgresText())
			}
			if start > next {
				return fmt.Errorf("%w: the log backup begins at %s but the standby needs WAL from %s first: WAL in between is missing", engine.ErrChain, start, next)
			}
		} else if seg.tli != prev.tli || seg.segNo != prev.segNo+1 {
			return fmt.Errorf("the log backup is not contiguous: %s follows %s: it is damaged, take it again", name, prev.name)
		}
		prev = seg
		if pglogrepl.LSN((seg.segNo+1)*segSize) <= next {
			_, err := io.Copy(io.Discard, r)
			return err // replayed already, or before what the seed needs
		}
		if err := s.putSegment(name, r, segSize); err != nil {
			return err
		}
		shipped++
		return nil
	})
	if err := errors.Join(rerr, rc.Close()); err != nil {
		if errors.Is(err, engine.ErrChain) {
			return err
		}
		return fmt.Errorf("restoring the log backup %s: %w", req.ServerPath, err)
	}
	now := time.Now().UTC()
	if firstSeg.name == "" {
		// Nothing was written on the primary since the last log backup.
		e := &restoreEntry{At: now, Kind: artifact.Log, FirstLSN: req.FirstLSN, LastLSN: req.LastLSN, Path: req.ServerPath, Family: family(m.SystemID, m.Timeline)}
		if e.LastLSN.IsZero() {
			e.FirstLSN, e.LastLSN = m.Next, m.Next
		}
		m.Last = e
		return s.writeMarker(m)
	}
	logFirst := pglogrepl.LSN(firstSeg.segNo * segSize)
	logEnd := pglogrepl.LSN((prev.segNo + 1) * segSize)
	if !req.LastLSN.IsZero() && req.LastLSN != lsnOf(logEnd) {
		return fmt.Errorf("the log backup %s ends with segment %s (%s) but its record says it ends at %s: it is not the log backup recorded", req.ServerPath, prev.name, logEnd, req.LastLSN.PostgresText())
	}
	if shipped == 0 {
		return fmt.Errorf("%w (the log covers %s to %s; the standby has WAL up to %s)", engine.ErrAlreadyRestored, logFirst, logEnd, next)
	}
	if !s.running() {
		progress.Step(0, "starting the standby (it was stopped)")
		if err := s.start(ctx); err != nil {
			return err
		}
	}
	consistentAt, err := pgLSN(m.ConsistentAt)
	if err != nil {
		return err
	}
	replay, err := s.waitReplay(ctx, prev, segSize, logEnd > consistentAt, progress)
	if err != nil {
		return err
	}
	m.Last = &restoreEntry{At: time.Now().UTC(), Kind: artifact.Log, FirstLSN: lsnOf(logFirst), LastLSN: lsnOf(logEnd), Path: req.ServerPath, Family: family(m.SystemID, m.Timeline)}
	m.Next = lsnOf(logEnd)
	if replay != 0 {
		m.ReplayLSN = lsnOf(replay)
	}
	if err := s.writeMarker(m); err != nil {
		return err
	}
	if replay != 0 {
		s.pruneInbox(uint64(replay)/segSize, segSize)
	}
	progress.Step(100, fmt.Sprintf("replayed up to %s", replay))
	return nil
}

// putSegment stores one segment in the inbox, durably and under its name
// only once whole. A segment already there with the same bytes is fine
// (a restore retried after a lost reply); with other bytes it is refused:
// two different WAL histories must never mix.
func (s *session) putSegment(name string, r io.Reader, segSize uint64) error {
	dst := filepath.Join(s.inbox(), name)
	tmp, err := os.CreateTemp(s.inbox(), "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	n, cerr := io.Copy(tmp, r)
	if cerr == nil && uint64(n) != segSize {
		cerr = fmt.Errorf("segment %s in the log backup has %d bytes, not %d: the backup is damaged", name, n, segSize)
	}
	if cerr == nil {
		cerr = tmp.Sync()
	}
	if err := errors.Join(cerr, tmp.Close()); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		same, err := sameFile(tmp.Name(), dst)
		if err != nil {
			return err
		}
		if !same {
			return fmt.Errorf("the WAL inbox already holds %s with other content than the log backup's: refusing to overwrite it (two different WAL histories?); if the standby was seeded from another primary, seed it again", dst)
		}
		return nil
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := s.chownFile(tmp.Name()); err != nil {
		return err
	}
	// Link, not rename: a segment that appeared meanwhile is never replaced.
	if err := os.Link(tmp.Name(), dst); err != nil {
		return fmt.Errorf("storing %s in the WAL inbox: %w", name, err)
	}
	return syncDir(s.inbox())
}

func sameFile(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return string(x) == string(y), nil
}

// waitReplay waits until the standby replayed the WAL up to the segment
// last: it asked restore_command for a segment after it (recorded in the
// inbox's .wanted), and, once it accepts connections (needSQL: the WAL
// shipped reaches the seed's end), pg_last_wal_replay_lsn() is inside or
// past last. It returns that replay position (0 when not asked).
func (s *session) waitReplay(ctx context.Context, last segment, segSize uint64, needSQL bool, progress engine.Progress) (pglogrepl.LSN, error) {
	deadline := time.Now().Add(ReplayTimeout)
	lastStart := pglogrepl.LSN(last.segNo * segSize)
	why := "it has not asked for the segment after " + last.name + " yet"
	for {
		if !s.running() {
			return 0, fmt.Errorf("the standby in %s stopped while replaying the shipped WAL%s", s.site.DataDir, s.logTail())
		}
		wanted, err := readWanted(s.inbox())
		if err != nil {
			return 0, err
		}
		if wanted != "" && wanted[8:] > last.name[8:] {
			if !needSQL {
				return 0, nil
			}
			conn, notReady, err := s.probe(ctx)
			if err != nil {
				return 0, err
			}
			if conn == nil {
				why = notReady
			} else {
				var txt string
				qerr := conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn()::text, '')`).Scan(&txt)
				closeSQL(conn)
				if qerr != nil {
					return 0, fmt.Errorf("asking the standby how far it replayed: %w", queryError(qerr))
				}
				replay, perr := pglogrepl.ParseLSN(txt)
				if perr == nil && replay >= lastStart {
					return replay, nil
				}
				why = "it replayed up to " + txt
			}
		}
		progress.Step(90, "waiting for the standby to replay up to "+last.name+": "+why)
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the standby in %s did not replay the shipped WAL up to %s within %s (%s)%s", s.site.DataDir, last.name, ReplayTimeout, why, s.logTail())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pruneInbox removes inbox segments before the one replay is in: the
// standby keeps what it restored in its own pg_wal until its next
// restartpoint, and reads the inbox only for what comes next.
func (s *session) pruneInbox(replaySeg, segSize uint64) {
	entries, err := os.ReadDir(s.inbox())
	if err != nil {
		return
	}
	for _, e := range entries {
		seg, err := parseSegment(e.Name(), segSize)
		if err == nil && seg.segNo < replaySeg {
			_ = os.Remove(filepath.Join(s.inbox(), e.Name()))
		}
	}
}

// Recover promotes the standby (pg_promote). Readers do not block a
// promotion: ErrInUse never applies.
func (s *session) Recover(ctx context.Context, req engine.RecoverRequest) error {
	if s.site.DataDir == "" {
		return errors.New(errNoDataDir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.site.DataDir
	m, err := s.readMarker()
	if err != nil {
		return err
	}
	if m == nil || m.Seeding != nil {
		return fmt.Errorf("%s holds no standby drsctl finished building: nothing to promote", dir)
	}
	if !s.running() {
		if err := s.start(ctx); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(ReplayTimeout)
	var conn *pgx.Conn
	for {
		c, notReady, err := s.probe(ctx)
		if err != nil {
			return err
		}
		if c != nil {
			conn = c
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot promote the standby in %s: %s after %s (a standby is promoted once consistent: ship the WAL up to its base backup's end first)%s", dir, notReady, ReplayTimeout, s.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer closeSQL(conn)
	var inRecovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
		return fmt.Errorf("asking the standby whether it is in recovery: %w", queryError(err))
	}
	if inRecovery {
		var promoted bool
		if err := conn.QueryRow(ctx, `SELECT pg_promote(true, 60)`).Scan(&promoted); err != nil {
			return fmt.Errorf("promoting the standby in %s: %w", dir, queryError(err))
		}
		if !promoted {
			return fmt.Errorf("the standby in %s did not finish promotion within 60 s%s", dir, s.logTail())
		}
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
			return fmt.Errorf("asking the promoted standby whether it is in recovery: %w", queryError(err))
		}
		if inRecovery {
			return fmt.Errorf("the standby in %s is still in recovery after pg_promote%s", dir, s.logTail())
		}
	}
	if m.Promoted == nil {
		now := time.Now().UTC()
		m.Promoted = &now
	}
	return s.writeMarker(m)
}

// promotedWhy says why the (stopped) cluster drsctl built is no longer a
// standby, or "" when it still is one: drsctl promoted it, or someone did
// outside drsctl (pg_ctl promote, pg_promote()) — PostgreSQL removes
// standby.signal when it leaves recovery, and drsctl writes it with every
// seed. A stopped cluster without it would start as a primary: it is
// reported as such, never fed WAL or started as a standby, and so never
// replaced without `drsctl reprotect`.
func (s *session) promotedWhy(m *marker) string {
	if m.Promoted != nil {
		return "promoted by drsctl at " + m.Promoted.UTC().Format(time.RFC3339)
	}
	if _, err := os.Stat(filepath.Join(s.site.DataDir, "standby.signal")); errors.Is(err, os.ErrNotExist) {
		return "promoted outside drsctl (its standby.signal is gone: PostgreSQL removes it when a standby is promoted)"
	}
	return ""
}
