package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/failpoint"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

func (x *execution) progress(a *plan.Action) engine.Progress {
	return engine.ProgressFunc(func(pct int, msg string) { x.r.Reporter.Progress(a, pct, msg) })
}

// backup takes a full or log backup on the primary straight into the backup
// folder, then reads the file back through the folder's URL to record its
// size and SHA-256: the ledger only ever holds what drsctl has seen. The
// artifact also records drsctl's clock when the server reported it done
// (Completed), which RPO trusts over the server's finish time.
func (x *execution) backup(ctx context.Context, a *plan.Action) (string, error) {
	p, err := x.primary(a)
	if err != nil {
		return "", err
	}
	kind := artifact.Full
	if a.Kind == plan.BackupLog {
		kind = artifact.Log
	}
	s, err := x.session(ctx, "primary", p.Name, p.Engine, p.Connection, engine.Site{})
	if err != nil {
		return "", err
	}
	folder, err := x.buckets.open(ctx, p.Folder.URL)
	if err != nil {
		return "", err
	}
	file, key, err := x.freshName(ctx, folder, p, a.Database, kind)
	if err != nil {
		return "", err
	}
	_, carried := s.(engine.Carrier)
	// The server writes the file itself and cannot create directories.
	if !carried {
		if err := prepareDir(ctx, folder, key); err != nil {
			return "", fmt.Errorf("prepare %s in backup folder %q: %w", path.Dir(key), p.Folder.Name, err)
		}
	}
	serverPath := blob.ServerPath(p.Folder.ServerPath, key)
	if a.NewFork {
		// The chain restart is recorded before the server takes the full: if
		// its reply is lost, the full is adopted later as the new fork's start.
		if err := x.commit(ctx, func(st *state.State) error {
			st.Database(p.Name, a.Database).Restart = a.Reason
			return nil
		}); err != nil {
			return "", err
		}
		failpoint.Hit(failpoint.RestartBeforeBackup)
	}
	if a.TailLog {
		if err := x.fenceTailLog(ctx, s, p, a); err != nil {
			return "", err
		}
	}
	req := engine.BackupRequest{Database: a.Database, Kind: kind, ServerPath: serverPath,
		Compression: p.Compression, Credential: p.Credential, NoRecovery: a.TailLog, DisconnectUsers: a.Disconnect,
		MaxStripes: artifact.MaxStripes}
	if carried {
		// drsctl carries the bytes into the folder; the engine takes log
		// from where the ledger's chain stands.
		sink := newFolderSink(ctx, folder, key)
		defer sink.Abort(nil) // after Commit, a no-op
		req.Sink = sink
		req.From = x.chainFrom(p.Name, a.Database)
	}
	h, err := s.Backup(ctx, req, x.progress(a))
	completed := x.r.Now().UTC() // before the read-back, which takes as long as the file is big
	if err != nil {
		err = x.abortFailedUploads(ctx, folder, p, a.Database, key, err)
		if kind == artifact.Log && !a.TailLog && errors.Is(err, engine.ErrChain) {
			// The server can no longer continue drsctl's chain (PostgreSQL:
			// the WAL since the ledger's position was released): retrying
			// changes nothing, so the chain restarts with a full backup.
			why := "the primary can no longer continue the log chain: " + err.Error()
			if cerr := x.commit(ctx, func(st *state.State) error {
				st.Database(p.Name, a.Database).Restart = why
				return nil
			}); cerr != nil {
				return "", errors.Join(err, cerr)
			}
			return "", fmt.Errorf("%w; the next apply starts a new chain with a full backup and seeds the standbys from it", err)
		}
		if a.TailLog && errors.Is(err, engine.ErrInUse) {
			return "", fmt.Errorf("%w; sessions are using %q on primary %q: stop the applications, or run promote -planned with -disconnect-users to end them; nothing was changed", err, a.Database, p.Name)
		}
		return "", err
	}
	failpoint.Hit(failpoint.BackupBeforeChecksum)
	size, sum, err := blob.Checksum(ctx, folder, key)
	if err != nil {
		return "", fmt.Errorf("the server wrote %s but drsctl cannot read it at %s (%s): check that backup_folder %q's url and server_path name the same place: %w",
			serverPath, blob.Redact(p.Folder.URL), key, p.Folder.Name, err)
	}
	// A backup striped across several URLs (engine.BackupRequest.MaxStripes):
	// each stripe is read back and recorded with the artifact.
	var more []state.Stripe
	for i := 2; i <= h.Stripes; i++ {
		k := artifact.StripePath(key, i, h.Stripes)
		n, sk, err := blob.Checksum(ctx, folder, k)
		if err != nil {
			return "", fmt.Errorf("the server wrote %s striped across %d URLs but drsctl cannot read stripe %d at %s: %w", serverPath, h.Stripes, i, k, err)
		}
		more = append(more, state.Stripe{Key: k, Size: n, SHA256: sk})
	}
	failpoint.Hit(failpoint.BackupBeforeRecord)
	err = x.finish(ctx, func(st *state.State) error {
		db := st.Database(p.Name, a.Database)
		if a.Observed != nil {
			db.RecoveryModel, db.CreatedAt, db.Identity = a.Observed.RecoveryModel, a.Observed.CreatedAt, a.Observed.Identity
		}
		db.Add(&state.Artifact{ID: file, Header: h, Key: key, Size: size, SHA256: sum, NewFork: a.NewFork, Completed: completed, More: more})
		if a.NewFork {
			db.Restart = ""
		}
		x.produced[a.ID] = file
		return nil
	})
	return file, err
}

// chainFrom is where the ledger's log chain for a database stands (see
// engine.BackupRequest.From): the end of the newest log backup taken since
// the chain began, else the start of the full it began with.
func (x *execution) chainFrom(primary, database string) artifact.LSN {
	x.mu.Lock()
	defer x.mu.Unlock()
	db := x.st.LookupDatabase(primary, database)
	if db == nil {
		return ""
	}
	var full *state.Artifact
	for i := len(db.Artifacts) - 1; i >= 0; i-- {
		a := db.Artifacts[i]
		if a.CopyOnly {
			continue
		}
		if a.Kind == artifact.Log {
			return a.LastLSN
		}
		if a.Kind == artifact.Full {
			full = a
			if a.NewFork {
				break
			}
		}
	}
	if full != nil {
		return full.FirstLSN
	}
	return ""
}

// adopt records an out-of-band backup found in the backup folder.
// freshName names a new backup file: by the time, with one-second
// resolution, moved on a second while the name is taken in the folder or
// the ledger (a switchover's tail-log backup right after a log backup, or a
// retried backup): the server never overwrites a file, and an artifact ID
// is never reused.
func (x *execution) freshName(ctx context.Context, folder blobBucket, p *config.Primary, database string, kind artifact.Kind) (file, key string, err error) {
	now := x.r.Now()
	for i := 0; i < 60; i++ {
		file = blob.ArtifactFile(database, kind, now.Add(time.Duration(i)*time.Second))
		key = blob.ArtifactKey(p.Name, database, kind, file)
		x.mu.Lock()
		known := false
		if db := x.st.LookupDatabase(p.Name, database); db != nil {
			known = db.Artifact(file) != nil
		}
		x.mu.Unlock()
		if known {
			continue
		}
		exists, err := folder.Exists(ctx, key)
		if err != nil {
			return "", "", fmt.Errorf("look for %s in backup folder %q before the backup (nothing was backed up): %w", key, p.Folder.Name, err)
		}
		if !exists {
			return file, key, nil
		}
	}
	return "", "", fmt.Errorf("no free name for a new %s backup of %q in backup folder %q: the next minute's names are all taken", kind, database, p.Folder.Name)
}

func (x *execution) adopt(ctx context.Context, a *plan.Action) error {
	p, err := x.primary(a)
	if err != nil {
		return err
	}
	if a.Adopted == nil {
		return errors.New("adopt action without the backup's description")
	}
	folder, err := x.buckets.open(ctx, p.Folder.URL)
	if err != nil {
		return err
	}
	size, sum, err := blob.Checksum(ctx, folder, a.Adopted.Key)
	if err != nil {
		return fmt.Errorf("read %s in backup folder %q: %w", a.Adopted.Key, p.Folder.Name, err)
	}
	var more []state.Stripe
	for i := 2; i <= a.Adopted.Header.Stripes; i++ {
		k := artifact.StripePath(a.Adopted.Key, i, a.Adopted.Header.Stripes)
		n, sk, err := blob.Checksum(ctx, folder, k)
		if err != nil {
			return fmt.Errorf("read stripe %d of %d of %s in backup folder %q: %w", i, a.Adopted.Header.Stripes, a.Adopted.Key, p.Folder.Name, err)
		}
		more = append(more, state.Stripe{Key: k, Size: n, SHA256: sk})
	}
	failpoint.Hit(failpoint.AdoptBeforeRecord)
	return x.finish(ctx, func(st *state.State) error {
		db := st.Database(p.Name, a.Database)
		if db.Artifact(a.Artifact) != nil {
			return fmt.Errorf("artifact %s is already in the state", a.Artifact)
		}
		db.Add(&state.Artifact{ID: a.Artifact, Header: a.Adopted.Header, Key: a.Adopted.Key, Size: size, SHA256: sum, OutOfBand: true, NewFork: a.NewFork, More: more})
		if a.NewFork {
			db.Restart = ""
		}
		return nil
	})
}

// ship copies one artifact from the backup folder to the destinations of
// every target in the batch, reading the source once. Each destination
// succeeds or fails on its own.
func (x *execution) ship(ctx context.Context, batch []*plan.Action) []*Outcome {
	outs := make([]*Outcome, len(batch))
	for i, a := range batch {
		outs[i] = &Outcome{Action: a}
	}
	fail := func(err error) []*Outcome {
		for _, o := range outs {
			if o.Err == nil {
				o.Err = err
			}
		}
		return outs
	}
	a0 := batch[0]
	p, err := x.primary(a0)
	if err != nil {
		return fail(err)
	}
	art, err := x.artifactOf(a0)
	if err != nil {
		return fail(err)
	}
	folder, err := x.buckets.open(ctx, p.Folder.URL)
	if err != nil {
		return fail(err)
	}
	type dest struct {
		o *Outcome
		b blobBucket
		t *config.Target
	}
	var live []dest
	for i, a := range batch {
		t, err := x.target(a)
		if err != nil {
			outs[i].Err = err
			continue
		}
		b, err := x.buckets.open(ctx, t.Destination.URL)
		if err != nil {
			outs[i].Err = err
			continue
		}
		live = append(live, dest{o: outs[i], b: b, t: t})
	}
	// Every file of the artifact (each stripe of a striped backup), in
	// turn: a destination that fails one gets no more, and its copy is
	// recorded only once it has them all.
	total, done := art.TotalSize(), int64(0)
	files := art.Files()
	for fi, f := range files {
		var sinks []blob.Sink
		var now []dest
		for _, d := range live {
			if d.o.Err == nil {
				sinks = append(sinks, blob.Sink{Bucket: d.b, Key: f.Key, PartSize: d.t.Destination.PartSize, Concurrency: d.t.Destination.Concurrency, ExpectSHA256: f.SHA256})
				now = append(now, d)
			}
		}
		if len(sinks) == 0 {
			return outs
		}
		what := art.ID
		if len(files) > 1 {
			what = fmt.Sprintf("stripe %d of %d of %s (%s)", fi+1, len(files), art.ID, f.Key)
		}
		r, err := blob.NewReader(ctx, folder, f.Key)
		if err != nil {
			return fail(fmt.Errorf("open %s in backup folder %q: %w", f.Key, p.Folder.Name, err))
		}
		report := func(written int64) {
			pct := 100
			if total > 0 {
				pct = int((done + written) * 100 / total)
			}
			for _, d := range now {
				x.r.Reporter.Progress(d.o.Action, pct, fmt.Sprintf("%d of %d bytes", done+written, total))
			}
		}
		size, sum, results, err := blob.Ship(ctx, r, sinks, report)
		r.Close()
		done += f.Size
		if err == nil && sum != "" && (size != f.Size || sum != f.SHA256) {
			// The folder's file is not what was backed up: every copy of it
			// would be damaged. The ledger says so, and the next plan works
			// around it (another full, another path) instead of failing here
			// every run. (An empty sum: every sink failed before the end, so
			// the source was not read whole and proves nothing; a shorter
			// file read whole is damaged too.)
			damaged := fmt.Errorf("the backup folder's copy of %s is damaged: it reads as %d bytes with SHA-256 %s, but was %d bytes with %s when it was taken; nothing was shipped, and it will not be used again: the next apply works around it (with a new full backup if a target needs one). Find what changed it (a cleanup job, a failing disk)",
				what, size, sum, f.Size, f.SHA256)
			if cerr := x.finish(ctx, func(st *state.State) error {
				if cur := st.LookupDatabase(a0.Primary, a0.Database).Artifact(art.ID); cur != nil {
					now := x.r.Now().UTC()
					cur.DamagedAt = &now
				}
				return nil
			}); cerr != nil {
				damaged = errors.Join(damaged, cerr)
			}
			return fail(damaged)
		}
		for i, res := range results {
			o := now[i].o
			switch {
			case res.Err != nil:
				o.Err = res.Err
				if errors.Is(res.Err, syscall.ENOSPC) {
					// The driver's words name a temporary file; say which place is full.
					o.Err = fmt.Errorf("no space left on device at %s (target %q's destination): %w", blob.Redact(now[i].t.Destination.URL), now[i].t.Name, res.Err)
				}
			case res.SHA256 != f.SHA256 || res.Size != f.Size:
				o.Err = fmt.Errorf("shipped %d bytes of %s with SHA-256 %s, the ledger says %d bytes, %s: the backup folder's copy changed", res.Size, what, res.SHA256, f.Size, f.SHA256)
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	for _, d := range live {
		if d.o.Err != nil {
			continue
		}
		a := d.o.Action
		failpoint.Hit(failpoint.ShipBeforeRecord)
		d.o.Err = x.finish(ctx, func(st *state.State) error {
			x.recordCopy(st, a, art, art.Size, art.SHA256, x.r.Now().UTC())
			return nil
		})
	}
	return outs
}

// recordCopy writes down a copy of art at a's target; on a copy-only
// target, the first full copy of a seed is what the target is seeded from.
func (x *execution) recordCopy(st *state.State, a *plan.Action, art *state.Artifact, size int64, sum string, at time.Time) *state.Copy {
	td := st.TargetDatabase(a.Target, a.Database)
	c := &state.Copy{Key: art.Key, Size: size, SHA256: sum, ShippedAt: at}
	td.Copies[art.ID] = c
	if a.Seed && td.SeededFrom == "" && !x.restores(a.Target) {
		td.SeededFrom = art.ID
	}
	return c
}

func (x *execution) restores(target string) bool {
	t := x.r.Config.TargetByName(target)
	return t != nil && t.Restores()
}

// verify reads the copy back at the destination and compares it with the
// ledger. A damaged copy is dropped from the ledger so the next plan ships
// it again; it is never restored.
func (x *execution) verify(ctx context.Context, a *plan.Action) error {
	t, err := x.target(a)
	if err != nil {
		return err
	}
	art, err := x.artifactOf(a)
	if err != nil {
		return err
	}
	b, err := x.buckets.open(ctx, t.Destination.URL)
	if err != nil {
		return err
	}
	// Every file of a striped artifact, the others first: the copy is
	// whole only with all of them (one missing or damaged is the copy
	// missing or damaged, shipped again whole).
	files := art.Files()
	bad := files[0]
	var size int64
	var sum string
	for _, f := range append(files[1:], files[0]) {
		bad = f
		if size, sum, err = blob.Checksum(ctx, b, f.Key); err != nil || size != f.Size || sum != f.SHA256 {
			break
		}
	}
	if err == nil && (size == bad.Size && sum == bad.SHA256) {
		// Remember when the verified copy was last modified: a later change
		// shows at refresh without reading the copy again.
		var mod time.Time
		if attrs, aerr := b.Attributes(ctx, art.Key); aerr == nil {
			mod = attrs.ModTime
		}
		failpoint.Hit(failpoint.VerifyBeforeRecord)
		return x.finish(ctx, func(st *state.State) error {
			now := x.r.Now().UTC()
			c := st.TargetDatabase(a.Target, a.Database).Copies[art.ID]
			if c == nil {
				// A complete copy whose ship was not recorded (the run that
				// shipped it was killed): proven, it is recorded now.
				c = x.recordCopy(st, a, art, size, sum, now)
			}
			c.VerifiedAt, c.ModTime = &now, mod
			return nil
		})
	}
	damaged := err == nil
	if damaged {
		err = fmt.Errorf("copy at %s is damaged: %d bytes with SHA-256 %s, want %d bytes with %s; it will be shipped again",
			path.Join(blob.Redact(t.Destination.URL), bad.Key), size, sum, bad.Size, bad.SHA256)
		// Out of the way, so the next plan ships it rather than verifying
		// the same damaged bytes again.
		if derr := b.Delete(ctx, bad.Key); derr != nil && !blob.IsNotExist(derr) {
			err = errors.Join(err, fmt.Errorf("delete the damaged copy: %w", derr))
		}
	} else if blob.IsNotExist(err) {
		damaged = true // gone is as bad as damaged: shipped again
		err = fmt.Errorf("copy at %s is missing; it will be shipped again", path.Join(blob.Redact(t.Destination.URL), bad.Key))
	} else {
		err = fmt.Errorf("read copy at %s: %w; it will be verified again", path.Join(blob.Redact(t.Destination.URL), bad.Key), err)
	}
	if cerr := x.finish(ctx, func(st *state.State) error {
		td := st.TargetDatabase(a.Target, a.Database)
		if damaged {
			delete(td.Copies, art.ID)
		} else if c := td.Copies[art.ID]; c != nil {
			// A read that failed proves nothing either way: the copy is
			// kept, unproven, and read again before any restore uses it.
			c.VerifiedAt = nil
		}
		return nil
	}); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// restore restores one artifact from the target's destination. A seed (a
// full) is written down as started before the server is touched, so an
// interrupted seed is known to be drsctl's; a log backup this plan took is
// first checked to continue from where the plan assumed the target stands.
func (x *execution) restore(ctx context.Context, a *plan.Action) error {
	if err := x.outsideRestoreWindow(a); err != nil {
		return err
	}
	t, err := x.target(a)
	if err != nil {
		return err
	}
	art, err := x.artifactOf(a)
	if err != nil {
		return err
	}
	want := artifact.Log
	if a.Kind == plan.RestoreFull {
		want = artifact.Full
	}
	if art.Kind != want {
		return fmt.Errorf("%s is a %s backup, not a %s backup; nothing was restored", art.ID, art.Kind, want)
	}
	if a.Continues != "" {
		if err := continues(art, a.Continues, a.AfterLog, a.Target); err != nil {
			return err
		}
		if idleAt(art, a.Continues) {
			// An idle database's log backup holds no log records: the
			// target already stands where it ends. Nothing is restored
			// (the server would refuse it as already applied) and the
			// ledger keeps the newest backup really restored.
			x.r.Reporter.Progress(a, 100, fmt.Sprintf("nothing to restore: %s is empty (nothing was logged since LSN %s)", art.ID, a.Continues))
			return nil
		}
	}
	if !x.verifiedThisRun(a) {
		// Verified by an earlier run: bit rot since then keeps the size and
		// the modification time a refresh compares, so the copy is read
		// again before the server is asked to restore from it.
		if err := x.verify(ctx, a); err != nil {
			return fmt.Errorf("nothing was restored: %w", err)
		}
	}
	s, err := x.session(ctx, "target", t.Name, t.Primary.Engine, t.Connection, engine.Site{DataDir: t.DataDir})
	if err != nil {
		return err
	}
	mode := engine.NoRecovery
	if a.Mode == string(config.RestoreStandby) {
		mode = engine.StandbyMode
	}
	req := engine.RestoreRequest{Database: a.Database, Kind: art.Kind, ServerPath: blob.ServerPath(t.Destination.ServerPath, art.Key), Stripes: art.Stripes,
		Mode: mode, Replace: a.Replace, DisconnectUsers: t.DisconnectUsers, Credential: t.Destination.Credential,
		FirstLSN: art.FirstLSN, LastLSN: art.LastLSN}
	if mode == engine.StandbyMode && t.DataDir != "" {
		// Without data_dir the engine places it where only that server
		// writes, never at the destination (a URL, or a shared folder).
		req.UndoFile = blob.StandbyUndoFile(t.DataDir, a.Database)
	}
	// Every file of a full and the files a log creates (ADD FILE on the
	// primary) go there; without them, to the server's default paths.
	req.DataDir, req.LogDir = t.DataDir, t.LogDir
	if _, carried := s.(engine.Carrier); carried {
		dest, err := x.buckets.open(ctx, t.Destination.URL)
		if err != nil {
			return err
		}
		req.Source = func(ctx context.Context) (io.ReadCloser, error) { return dest.NewReader(ctx, art.Key, nil) }
	}
	if a.Replace {
		reprotect := false
		if td := x.lookupTarget(a.Target, a.Database); td != nil {
			reprotect = td.ReprotectAt != nil
		}
		if err := fenceReplace(ctx, s, t.Name, a.Database, a.Assumed, reprotect); err != nil {
			return err
		}
	}
	if a.Kind == plan.RestoreFull {
		// Stays set if the restore fails or its reply is lost: the next plan
		// then knows the database on the target is drsctl's seed.
		if err := x.commit(ctx, func(st *state.State) error {
			st.TargetDatabase(a.Target, a.Database).Seeding = art.ID
			return nil
		}); err != nil {
			return fmt.Errorf("record the start of the seed from %s (nothing was restored): %w", art.ID, err)
		}
		failpoint.Hit(failpoint.SeedBeforeRestore)
	}
	if err := s.Restore(ctx, req, x.progress(a)); err != nil {
		switch {
		case errors.Is(err, engine.ErrAlreadyRestored) && a.Kind == plan.RestoreLog:
			// The server says the database is already past this log's
			// end (SQL Server 4326): it is there, whatever was observed
			// before. Recorded as restored, so the next log follows; a
			// gap (4305) stays an error.
			x.r.Reporter.Progress(a, 100, fmt.Sprintf("%q on %q is already past %s (LSN %s): recorded as restored", a.Database, t.Name, art.ID, art.LastLSN))
			failpoint.Hit(failpoint.RestoreLogBeforeRecord)
			return x.finish(ctx, func(st *state.State) error {
				td := st.TargetDatabase(a.Target, a.Database)
				released := standsOn(td)
				td.Restored = &state.Restore{Artifact: art.ID, Kind: art.Kind, LastLSN: art.LastLSN, Mode: a.Mode, At: x.r.Now().UTC()}
				forgetIfGone(st, a.Primary, a.Database, released...)
				return nil
			})
		case errors.Is(err, engine.ErrInUse):
			return fmt.Errorf("%w; readers hold the database (set disconnect_users = true to end their sessions); the restore is retried on the next apply", err)
		case !errors.Is(err, engine.ErrDamaged):
			return err
		}
		// The server could not read the copy: perhaps it rotted since it was
		// verified. The next plan proves it again before any restore uses it.
		if cerr := x.finish(ctx, func(st *state.State) error {
			if c := st.TargetDatabase(a.Target, a.Database).Copies[art.ID]; c != nil {
				c.VerifiedAt = nil
			}
			return nil
		}); cerr != nil {
			return errors.Join(err, cerr)
		}
		return fmt.Errorf("%w (the copy is verified again before it is used)", err)
	}
	if a.Kind == plan.RestoreFull {
		failpoint.Hit(failpoint.RestoreFullBeforeRecord)
	} else {
		failpoint.Hit(failpoint.RestoreLogBeforeRecord)
	}
	return x.finish(ctx, func(st *state.State) error {
		td := st.TargetDatabase(a.Target, a.Database)
		released := standsOn(td)
		td.Restored = &state.Restore{Artifact: art.ID, Kind: art.Kind, LastLSN: art.LastLSN, Mode: a.Mode, At: x.r.Now().UTC()}
		if a.Kind == plan.RestoreFull {
			td.SeededFrom, td.Seeding = art.ID, ""
			// A new seed protects the database again: a promotion, and the
			// reprotect that allowed replacing it, are over.
			td.PromotedAt, td.PromotedHow, td.PromotedLSN, td.ReprotectAt = nil, "", "", nil
		}
		forgetIfGone(st, a.Primary, a.Database, released...)
		return nil
	})
}

// verifiedThisRun reports whether a restore depends on a verify of its own
// copy in this plan, so the copy was proven just before.
func (x *execution) verifiedThisRun(a *plan.Action) bool {
	for _, id := range a.DependsOn {
		if d := x.byID[id]; d != nil && d.Kind == plan.Verify && d.Target == a.Target && d.Artifact == a.Artifact && d.From == a.From {
			return true
		}
	}
	return false
}

// continues checks that a log backup this plan took begins where the plan
// assumed the target stands (FirstLSN <= at < LastLSN): the plan could only
// guess where the primary's next log would begin. An empty log backup
// (FirstLSN = LastLSN, the database was idle) that begins exactly there
// also passes: see idleAt.
func continues(art *state.Artifact, at artifact.LSN, afterLog bool, target string) error {
	if art.Kind != artifact.Log {
		return fmt.Errorf("%w: the new backup %s is a %s backup, not a log backup that continues from LSN %s where target %q stands; nothing was restored, the next plan decides again",
			engine.ErrChain, art.ID, art.Kind, at, target)
	}
	first := art.FirstLSN.Cmp(at)
	if afterLog && first != 0 && !idleAt(art, at) {
		// After a log, the next log begins exactly where it ended.
		return fmt.Errorf("%w: the new log backup %s begins at LSN %s, but target %q stands at LSN %s after a log backup: the primary's log chain moved (LSNs went backwards or a log backup was taken outside drsctl); nothing was restored, the next plan decides again",
			engine.ErrChain, art.ID, art.FirstLSN, target, at)
	}
	if first <= 0 && at.Cmp(art.LastLSN) < 0 || idleAt(art, at) {
		return nil
	}
	return fmt.Errorf("%w: the new log backup %s begins at LSN %s and ends at %s, but target %q stands at LSN %s: the primary's log chain moved (LSNs went backwards or a log backup was taken outside drsctl); nothing was restored, the next plan decides again",
		engine.ErrChain, art.ID, art.FirstLSN, art.LastLSN, target, at)
}

// fenceReplace asks the target again, right before a restore WITH REPLACE,
// whether the database is still what the plan saw: a standby failed over by
// hand since the plan was made (or while a long full ran) is online and
// written to, and another database restored under its name stands
// somewhere else; drsctl never restores over either. An online database is
// replaced only when `drsctl reprotect` asked for it and the plan saw it
// online too.
func fenceReplace(ctx context.Context, s engine.Session, target, database string, assumed *plan.Assumption, reprotect bool) error {
	d, err := observeOne(ctx, s, database)
	if err != nil {
		return fmt.Errorf("ask target %q about %q again before restoring over it (nothing was restored): %w", target, database, err)
	}
	refuse := func(why, what string) error {
		return fmt.Errorf("refused to restore WITH REPLACE over %q on target %q: %s; nothing was restored. %s", database, target, why, what)
	}
	switch d.State {
	case engine.Absent:
		return nil
	case engine.Restoring, engine.Standby:
		if assumed != nil && (assumed.State == engine.Restoring || assumed.State == engine.Standby) && assumed.RedoLSN.Cmp(d.RedoLSN) != 0 {
			return refuse(fmt.Sprintf("it stands at LSN %s now, and the plan saw it at LSN %s (someone restored to it since)", lsnOrNone(d.RedoLSN), lsnOrNone(assumed.RedoLSN)),
				"Plan again: drsctl decides anew from where it stands.")
		}
		return nil
	case engine.Online:
		if reprotect && assumed != nil && assumed.State == engine.Online {
			return nil
		}
		return refuse(fmt.Sprintf("it is %s now, not a restoring standby (it may have been failed over since the plan was made)", d.RawState),
			fmt.Sprintf("If it was failed over, record it with `drsctl promote %s -database %s`. To protect it again, drop it on the target, or run `drsctl reprotect %s -database %s`, and apply again.", target, database, target, database))
	}
	return refuse(fmt.Sprintf("it is %s now", d.RawState), "drsctl restores only over a restoring or standby database it seeded.")
}

// observeOne asks a standby server about one database.
func observeOne(ctx context.Context, s engine.Session, database string) (engine.StandbyDatabase, error) {
	dbs, err := s.ObserveStandby(ctx, []string{database})
	if err != nil {
		return engine.StandbyDatabase{}, err
	}
	for _, d := range dbs {
		if d.Name == database {
			return d, nil
		}
	}
	return engine.StandbyDatabase{Name: database, State: engine.Absent, RawState: "absent"}, nil
}

func lsnOrNone(l artifact.LSN) string {
	if l.IsZero() {
		return "(none)"
	}
	return string(l)
}

// idleAt reports an empty log backup (no log records: FirstLSN = LastLSN)
// that ends exactly where a target stands at: restoring it changes nothing.
func idleAt(art *state.Artifact, at artifact.LSN) bool {
	return art.Kind == artifact.Log && art.FirstLSN.Cmp(art.LastLSN) == 0 && art.FirstLSN.Cmp(at) == 0
}

// record writes down where a standby was observed to stand.
func (x *execution) record(ctx context.Context, a *plan.Action) error {
	if a.Position == nil {
		return errors.New("record action without a position")
	}
	t, err := x.target(a)
	if err != nil {
		return err
	}
	return x.finish(ctx, func(st *state.State) error {
		td := st.TargetDatabase(a.Target, a.Database)
		released := standsOn(td)
		td.Restored = &state.Restore{Artifact: a.Position.Artifact, Kind: a.Position.Kind, LastLSN: a.Position.LastLSN, Mode: string(t.RestoreMode), At: x.r.Now().UTC()}
		if a.Seed {
			// The seed's reply was lost, but the server stands after it:
			// like any new seed, it ends a promotion and its reprotect.
			td.SeededFrom, td.Seeding = a.Position.Artifact, ""
			td.PromotedAt, td.PromotedHow, td.PromotedLSN, td.ReprotectAt = nil, "", "", nil
		}
		forgetIfGone(st, a.Primary, a.Database, released...)
		return nil
	})
}

// prune deletes an artifact from the backup folder (no target) or a copy
// from a target's destination, and forgets it once no copy is left. An
// orphan (an object the ledger does not know, named by Key) is deleted
// without touching the ledger.
func (x *execution) prune(ctx context.Context, a *plan.Action) error {
	p, err := x.primary(a)
	if err != nil {
		return err
	}
	if a.Artifact == "" && a.From == "" && a.Key != "" {
		return x.pruneOrphan(ctx, p, a)
	}
	art, err := x.artifactOf(a)
	if err != nil {
		return err
	}
	b, where, err := x.pruneFrom(ctx, p, a)
	if err != nil {
		return err
	}
	if err := x.fencePrune(ctx, p, a, art, b, where); err != nil {
		return err
	}
	// Every stripe of a striped artifact, the first last: a prune cut
	// short leaves the first, which the ledger still records, and the next
	// plan prunes again (deleting what is already gone is no error).
	files := art.Files()
	for _, f := range append(files[1:], files[0]) {
		if err := b.Delete(ctx, f.Key); err != nil && !blob.IsNotExist(err) {
			return fmt.Errorf("delete %s from %s: %w", f.Key, where, err)
		}
	}
	failpoint.Hit(failpoint.PruneBeforeRecord)
	return x.finish(ctx, func(st *state.State) error {
		now := x.r.Now().UTC()
		if a.Target != "" {
			delete(st.TargetDatabase(a.Target, a.Database).Copies, art.ID)
		} else if cur := st.LookupDatabase(a.Primary, a.Database).Artifact(art.ID); cur != nil {
			cur.PrunedAt = &now
		}
		forgetIfGone(st, a.Primary, a.Database, art.ID)
		return nil
	})
}

// pruneFrom opens where a prune deletes: the backup folder (no target) or
// the target's destination, and names it for messages.
func (x *execution) pruneFrom(ctx context.Context, p *config.Primary, a *plan.Action) (blobBucket, string, error) {
	url, where := p.Folder.URL, fmt.Sprintf("backup folder %q", p.Folder.Name)
	if a.Target != "" {
		t, err := x.target(a)
		if err != nil {
			return nil, "", err
		}
		url, where = t.Destination.URL, fmt.Sprintf("target %q's destination", t.Name)
	}
	b, err := x.buckets.open(ctx, url)
	if err != nil {
		return nil, "", err
	}
	return b, where, nil
}

// pruneOrphan deletes an object the ledger does not know from the backup
// folder (no target) or a target's destination. It refuses a key outside
// the database's place in the layout and one the ledger does know (that is
// no orphan): a plan cannot make apply delete anything else.
func (x *execution) pruneOrphan(ctx context.Context, p *config.Primary, a *plan.Action) error {
	b, where, err := x.pruneFrom(ctx, p, a)
	if err != nil {
		return err
	}
	if prefix := blob.DatabasePrefix(p.Name, a.Database); !underPrefix(a.Key, prefix) {
		return fmt.Errorf("refusing to prune %s from %s: it is not under %s, where database %q's backups live", a.Key, where, prefix, a.Database)
	}
	if id := x.ledgerKey(a); id != "" {
		return fmt.Errorf("refusing to prune %s from %s: the ledger records it as %s, so it is not an orphan; the next plan decides again", a.Key, where, id)
	}
	if err := b.Delete(ctx, a.Key); err != nil && !blob.IsNotExist(err) {
		return fmt.Errorf("delete %s from %s: %w", a.Key, where, err)
	}
	return nil
}

// underPrefix reports whether key names an object below prefix (which ends
// in "/"), with no empty, "." or ".." segment that could lead elsewhere.
func underPrefix(key, prefix string) bool {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ledgerKey returns the ID of the artifact the ledger records under the key
// of an orphan prune, where that prune would delete it: an artifact still
// in the backup folder, or a copy at the target's destination.
func (x *execution) ledgerKey(a *plan.Action) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if a.Target != "" {
		if td := x.st.LookupTargetDatabase(a.Target, a.Database); td != nil {
			db := x.st.LookupDatabase(a.Primary, a.Database)
			for id, c := range td.Copies {
				if c != nil && c.Key == a.Key {
					return id
				}
				// A stripe of a copy is part of it, never an orphan.
				if art := db.Artifact(id); c != nil && art != nil && art.Stripes > 1 {
					for i := 2; i <= art.Stripes; i++ {
						if artifact.StripePath(c.Key, i, art.Stripes) == a.Key {
							return id
						}
					}
				}
			}
		}
		return ""
	}
	if db := x.st.LookupDatabase(a.Primary, a.Database); db != nil {
		for _, art := range db.Artifacts {
			if art == nil || art.PrunedAt != nil {
				continue
			}
			for _, f := range art.Files() {
				if f.Key == a.Key {
					return art.ID
				}
			}
		}
	}
	return ""
}

// forgetIfGone drops an artifact from the ledger once it is pruned from the
// backup folder and no target holds a copy, stands on it or is seeding from
// it.
//
// It runs after a prune, and after a restore moves a target off the
// artifact it stood on (or was seeding from): a backup pruned everywhere
// while a standby still stood on it would otherwise stay in the ledger
// forever, one more every day.
func forgetIfGone(st *state.State, primary, database string, ids ...string) {
	for _, id := range ids {
		forgetOne(st, primary, database, id)
	}
}

// standsOn lists the artifacts a target database holds on to other than
// by a copy: the one it stands on and the one it is seeding from.
func standsOn(td *state.TargetDatabase) []string {
	var ids []string
	if td.Restored != nil {
		ids = append(ids, td.Restored.Artifact)
	}
	if td.Seeding != "" {
		ids = append(ids, td.Seeding)
	}
	return ids
}

func forgetOne(st *state.State, primary, database, id string) {
	db := st.LookupDatabase(primary, database)
	art := db.Artifact(id)
	if art == nil || art.PrunedAt == nil {
		return
	}
	for _, t := range st.Targets {
		if td := t.Databases[database]; td != nil {
			if _, ok := td.Copies[id]; ok {
				return
			}
			if td.Restored != nil && td.Restored.Artifact == id {
				return
			}
			if td.Seeding == id {
				return
			}
		}
	}
	kept := db.Artifacts[:0]
	for _, a := range db.Artifacts {
		if a.ID != id {
			kept = append(kept, a)
		}
	}
	db.Artifacts = kept
}

// promote recovers a standby database: it becomes writable and gets no more
// restores. Right before, the target is asked again: the database must
// stand exactly where drsctl restored it (or, to be recorded, be online).
func (x *execution) promote(ctx context.Context, a *plan.Action) error {
	t, err := x.target(a)
	if err != nil {
		return err
	}
	s, err := x.session(ctx, "target", t.Name, t.Primary.Engine, t.Connection, engine.Site{DataDir: t.DataDir})
	if err != nil {
		return err
	}
	d, err := observeOne(ctx, s, a.Database)
	if err != nil {
		return fmt.Errorf("ask target %q about %q again before recovering it (nothing was changed): %w", t.Name, a.Database, err)
	}
	var restored artifact.LSN
	if td := x.lookupTarget(a.Target, a.Database); td != nil && td.Restored != nil {
		restored = td.Restored.LastLSN
	}
	how := a.Mode
	switch {
	case d.State == engine.Online:
		// Already online is what was asked: a promote whose reply or ledger
		// write was lost, or a failover done by hand that is being recorded.
		x.r.Reporter.Progress(a, 100, fmt.Sprintf("%q is already online on %q: recording the promotion", a.Database, t.Name))
		if how == plan.PromoteUnplanned || how == "" {
			how = plan.PromoteRecorded
		}
	case d.State != engine.Restoring && d.State != engine.Standby:
		return fmt.Errorf("refused to recover %q on target %q: it is %s, not a restoring standby; nothing was changed", a.Database, t.Name, d.RawState)
	case !restored.IsZero() && d.RedoLSN.Cmp(restored) != 0:
		return fmt.Errorf("refused to recover %q on target %q: it stands at LSN %s, but drsctl restored it through LSN %s (someone restored to it since the plan); nothing was changed. Plan again, or recover it by hand and record it with `drsctl promote`",
			a.Database, t.Name, lsnOrNone(d.RedoLSN), restored)
	default:
		if err := s.Recover(ctx, engine.RecoverRequest{Database: a.Database, DisconnectUsers: t.DisconnectUsers}); err != nil {
			if errors.Is(err, engine.ErrInUse) {
				return fmt.Errorf("%w; readers hold %q on target %q (set disconnect_users = true on the target to end their sessions, or end them yourself) and promote again", err, a.Database, t.Name)
			}
			// The reply may be lost after the server recovered it.
			if d2, oerr := observeOne(ctx, s, a.Database); oerr != nil || d2.State != engine.Online {
				return err
			}
		}
	}
	failpoint.Hit(failpoint.PromoteBeforeRecord)
	return x.finish(ctx, func(st *state.State) error {
		now := x.r.Now().UTC()
		td := st.TargetDatabase(a.Target, a.Database)
		td.PromotedAt, td.PromotedHow, td.ReprotectAt = &now, how, nil
		td.PromotedLSN = restored
		if td.PromotedLSN.IsZero() {
			td.PromotedLSN = d.RedoLSN
		}
		return nil
	})
}

// keepFile marks a directory so servers that write files themselves (and
// cannot create directories) find it.
const keepFile = ".drsctl-keep"

func prepareDir(ctx context.Context, b blobBucket, key string) error {
	marker := path.Join(path.Dir(key), keepFile)
	if ok, err := b.Exists(ctx, marker); err == nil && ok {
		return nil
	}
	return b.WriteAll(ctx, marker, nil, nil)
}
