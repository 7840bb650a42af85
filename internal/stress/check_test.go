package stress

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
)

// standbys are the targets that restore, with their simulators.
func (w *world) standbys() map[string]*sqlsim.Server {
	return map[string]*sqlsim.Server{"east": w.east, "west": w.west}
}

// newestLog is the primary's newest log backup of a database (msdb), or
// false when there is none.
func (w *world) newestLog(database string) (sqlsim.BackupRecord, bool) {
	var last sqlsim.BackupRecord
	found := false
	for _, b := range w.primary.BackupHistory() {
		if b.Database == database && b.Type == "L" && !b.CopyOnly {
			last, found = b, true
		}
	}
	return last, found
}

// position is where a standby database stands: the LastLSN of the last
// backup its server restored into it ("" when none).
func position(s *sqlsim.Server, database string) string {
	pos := ""
	for _, r := range s.RestoreHistory() {
		if r.Database == database {
			pos = r.LastLSN
		}
	}
	return pos
}

// target returns the world's target of that name.
func (w *world) target(name string) target {
	for _, tg := range w.targets {
		if tg.name == name {
			return tg
		}
	}
	w.t.Fatalf("no target %q", name)
	return target{}
}

// scanTarget reads every object at a target's destination (see scan).
func (w *world) scanTarget(tg target) (map[string]file, int, error) {
	if tg.dir != "" {
		return scan(tg.dir)
	}
	return scanURL(tg.url)
}

// converged reports whether every target has caught up with the primary:
// each standby stands where the primary's newest log backup ends, east
// (STANDBY, readable) holds the primary's rows, and every copy-only target
// holds a restorable chain to that log. When not, it says what is behind.
func (w *world) converged() (bool, string) {
	held := map[string]map[string]file{}
	for _, tg := range w.targets {
		if !tg.restores() {
			files, _, err := w.scanTarget(tg)
			if err != nil {
				return false, fmt.Sprintf("list %s: %v", tg.name, err)
			}
			held[tg.name] = files
		}
	}
	for _, db := range databases {
		last, ok := w.newestLog(db)
		if !ok {
			return false, fmt.Sprintf("%s: no log backup on the primary yet", db)
		}
		for name, s := range w.standbys() {
			if pos := position(s, db); pos != last.LastLSN {
				return false, fmt.Sprintf("%s on %s stands at LSN %q, the primary's newest log backup ends at %s", db, name, pos, last.LastLSN)
			}
		}
		for name, files := range held {
			if reached, why := w.chainHeld(files, db, last); !reached {
				return false, fmt.Sprintf("%s in %s: %s", db, name, why)
			}
		}
	}
	return w.rowsMatch()
}

// rowsMatch compares east's rows with the primary's and with what the test
// inserted.
func (w *world) rowsMatch() (bool, string) {
	for _, db := range databases {
		want, err := w.rows(w.primary, db)
		if err != nil {
			return false, "primary: " + err.Error()
		}
		w.mu.Lock()
		ins := slices.Clone(w.inserted[db])
		w.mu.Unlock()
		if !slices.Equal(want, ins) {
			return false, fmt.Sprintf("the primary's %s holds %v, the test inserted %v", db, want, ins)
		}
		got, err := w.rows(w.east, db)
		if err != nil {
			return false, "east: " + err.Error()
		}
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("east's %s holds rows %v, the primary's %v", db, got, want)
		}
	}
	return true, ""
}

// chainHeld walks the primary's backups from each full a copy-only
// target's destination holds (files), along the log chain (empty log
// backups need not be there), and reports whether one reaches the end of
// last with every log on the way there.
func (w *world) chainHeld(files map[string]file, db string, last sqlsim.BackupRecord) (bool, string) {
	share := filepath.Join(w.dir, "share")
	in := func(b sqlsim.BackupRecord) bool {
		rel, err := filepath.Rel(share, b.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			return false
		}
		_, ok := files[filepath.ToSlash(rel)]
		return ok
	}
	var fulls, logs []sqlsim.BackupRecord
	for _, b := range w.primary.BackupHistory() {
		if b.Database != db || b.CopyOnly {
			continue
		}
		if b.Type == "D" {
			fulls = append(fulls, b)
		} else if b.Type == "L" && !b.Empty() {
			logs = append(logs, b)
		}
	}
	why := "it holds no full backup"
	for i := len(fulls) - 1; i >= 0; i-- {
		f := fulls[i]
		if !in(f) {
			continue
		}
		pos, afterLog, gap := f.LastLSN, false, ""
		for _, l := range logs {
			if lsnCmp(l.LastLSN, pos) <= 0 {
				continue // before the full's end: covered by it
			}
			fits := lsnCmp(l.FirstLSN, pos) <= 0
			if afterLog {
				fits = l.FirstLSN == pos
			}
			if !fits {
				break // another fork
			}
			if !in(l) {
				gap = fmt.Sprintf("log backup %s (LSN %s..%s) after full %s is missing", filepath.Base(l.Path), l.FirstLSN, l.LastLSN, filepath.Base(f.Path))
				break
			}
			pos, afterLog = l.LastLSN, true
		}
		if gap == "" && pos == last.LastLSN {
			return true, ""
		}
		if gap != "" {
			why = gap
		} else {
			why = fmt.Sprintf("the chain from %s reaches LSN %s, not %s", filepath.Base(f.Path), pos, last.LastLSN)
		}
	}
	return false, why
}

func lsnCmp(a, b string) int { return artifact.LSN(a).Cmp(artifact.LSN(b)) }

// figures are what a check counted that is worth reporting but not a
// failure.
type figures struct {
	tempFiles  int // temporary files of storage writes a kill left behind
	stateTemps int // temporary files of state writes a kill left behind
}

// problem is one violated invariant.
type problem struct {
	msg string
}

// check verifies the invariants that must hold once the world converged.
// It returns every violation found.
func (w *world) check() ([]problem, figures) {
	var probs []problem
	var fig figures
	add := func(format string, a ...any) { probs = append(probs, problem{msg: fmt.Sprintf(format, a...)}) }

	// The ledger reads.
	st, err := w.ledger()
	if err != nil {
		add("the ledger does not read: %v", err)
		return probs, fig
	}
	// The lock is released.
	if _, err := os.Stat(w.statePath() + ".lock"); err == nil {
		info, _ := w.lockInfo()
		add("the state lock is still held after the last apply: %+v", info)
	}

	// Temporary files of state writes a kill interrupted (not a failure:
	// the state file itself is always whole).
	if ents, err := os.ReadDir(w.dir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "drs.state.json.") && strings.Contains(e.Name(), ".tmp-") {
				fig.stateTemps++
			}
		}
	}

	// No restore repeated or skipped, by each standby's msdb.
	for name, s := range w.standbys() {
		dest := w.target(name).serverPath() + string(filepath.Separator)
		for _, db := range databases {
			fulls, pos, afterLog := 0, "", false
			seen := map[string]int{}
			for _, r := range s.RestoreHistory() {
				if r.Database != db {
					continue
				}
				if !strings.HasPrefix(r.Path, dest) {
					add("%s/%s: restored %s, which is not at the target's destination", name, db, r.Path)
				}
				if r.Recovery {
					add("%s/%s: %s was restored WITH RECOVERY", name, db, filepath.Base(r.Path))
				}
				span := r.Type + ":" + r.FirstLSN + ".." + r.LastLSN
				seen[span]++
				if seen[span] > 1 {
					add("%s/%s: %s (LSN %s..%s) was restored %d times", name, db, filepath.Base(r.Path), r.FirstLSN, r.LastLSN, seen[span])
				}
				switch r.Type {
				case "D":
					fulls++
					pos, afterLog = r.LastLSN, false
				case "L":
					ok := lsnCmp(r.FirstLSN, pos) <= 0 && lsnCmp(pos, r.LastLSN) < 0
					if afterLog {
						ok = r.FirstLSN == pos
					}
					if pos == "" || !ok {
						add("%s/%s: log %s (LSN %s..%s) was restored out of order: the database stood at LSN %q", name, db, filepath.Base(r.Path), r.FirstLSN, r.LastLSN, pos)
					}
					pos, afterLog = r.LastLSN, true
				}
			}
			if want := 1 + w.restarts[db]; fulls < 1 || fulls > want {
				add("%s/%s: %d full restores (seeds); want 1 plus one per chain restart (%d)", name, db, fulls, want)
			}
			// Skipped: the standby must stand where the primary's newest log ends
			// (the restores above are gap-free, so nothing was skipped on the way).
			if last, ok := w.newestLog(db); ok && pos != last.LastLSN {
				add("%s/%s: stands at LSN %s, the primary's newest log backup %s ends at %s", name, db, pos, filepath.Base(last.Path), last.LastLSN)
			}
			// The ledger says where the server says.
			td := st.LookupTargetDatabase(name, db)
			switch {
			case td == nil || td.Restored == nil:
				add("%s/%s: the ledger records no restore; the server stands at LSN %s", name, db, pos)
			case string(td.Restored.LastLSN) != pos:
				add("%s/%s: the ledger says it stands at LSN %s (%s), the server at %s", name, db, td.Restored.LastLSN, td.Restored.Artifact, pos)
			case td.Seeding != "":
				add("%s/%s: the ledger still records a seed in progress from %s", name, db, td.Seeding)
			}
		}
	}
	// Each standby's rows equal the primary's (east is readable; west,
	// NORECOVERY, is compared by position above).
	if ok, why := w.rowsMatch(); !ok {
		add("rows: %s", why)
	}

	// No file under a final name is partial; the ledger and storage agree.
	share := filepath.Join(w.dir, "share")
	folder, tmp, err := scan(share)
	if err != nil {
		add("scan the backup folder: %v", err)
	}
	fig.tempFiles += tmp
	byKey := map[string]*state.Artifact{}
	for _, db := range databases {
		d := st.LookupDatabase("sales", db)
		if d == nil {
			add("the ledger has no database %s", db)
			continue
		}
		for _, a := range d.Artifacts {
			byKey[a.Key] = a
			if a.PrunedAt != nil || a.DamagedAt != nil {
				continue
			}
			f, ok := folder[a.Key]
			switch {
			case !ok:
				add("the ledger lists %s in the backup folder, but it is not there", a.Key)
			case f.size != a.Size || f.sum != a.SHA256:
				add("backup folder: %s is %d bytes with SHA-256 %s, the ledger says %d bytes, %s", a.Key, f.size, f.sum, a.Size, a.SHA256)
			}
		}
	}
	history := map[string]sqlsim.BackupRecord{} // key → the primary's backup written there last
	for _, b := range w.primary.BackupHistory() {
		if rel, err := filepath.Rel(share, b.Path); err == nil && !strings.HasPrefix(rel, "..") {
			history[filepath.ToSlash(rel)] = b
		}
	}
	for key := range folder {
		if byKey[key] == nil {
			add("backup folder: %s is not in the ledger (drsctl lost track of a backup)", key)
		}
	}
	for _, tg := range w.targets {
		name := tg.name
		files, tmp, err := w.scanTarget(tg)
		if err != nil {
			add("scan %s: %v", name, err)
		}
		fig.tempFiles += tmp
		if !tg.restores() {
			for _, db := range databases {
				if last, ok := w.newestLog(db); ok {
					if reached, why := w.chainHeld(files, db, last); !reached {
						add("%s/%s: %s", name, db, why)
					}
				}
			}
		}
		for key, f := range files {
			want, ok := folder[key]
			if !ok {
				if a := byKey[key]; a != nil {
					want, ok = file{size: a.Size, sum: a.SHA256}, true
				}
			}
			switch {
			case !ok && history[key].Path != "":
				add("%s: %s (a backup drsctl took) is at the destination, but neither in the backup folder nor in the ledger", name, key)
			case !ok:
				add("%s: %s is neither in the backup folder nor in the ledger", name, key)
			case f != want:
				add("%s: %s is %d bytes with SHA-256 %s under its final name; the backup is %d bytes, %s", name, key, f.size, f.sum, want.size, want.sum)
			}
		}
		if t := st.Targets[name]; t != nil {
			for db, td := range t.Databases {
				for id, c := range td.Copies {
					f, ok := files[c.Key]
					switch {
					case !ok:
						add("%s/%s: the ledger records a copy of %s, but it is not at the destination", name, db, id)
					case f.size != c.Size || f.sum != c.SHA256:
						add("%s/%s: the copy of %s differs from the ledger's record", name, db, id)
					}
				}
			}
		}
	}

	// Every backup the primary took into the backup folder (and that is
	// still there) is in the ledger as what it is.
	for key, b := range history {
		if _, ok := folder[key]; !ok || b.CopyOnly || byKey[key] == nil {
			continue // pruned; or not in the ledger at all, reported above
		}
		if a := byKey[key]; string(a.FirstLSN) != b.FirstLSN || string(a.LastLSN) != b.LastLSN {
			add("the primary's backup %s (LSN %s..%s) is in the ledger with LSN %s..%s", key, b.FirstLSN, b.LastLSN, a.FirstLSN, a.LastLSN)
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].msg < probs[j].msg })
	return probs, fig
}

type file struct {
	size int64
	sum  string
}

// scan reads every file under a storage root by key, with its size and
// SHA-256, leaving out what is not an object (attribute side files,
// directory markers) and counting the temporary files of writes that never
// finished.
func scan(root string) (files map[string]file, temps int, err error) {
	files = map[string]file{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, ".attrs"), name == ".drsctl-keep":
			return nil
		case strings.Contains(name, ".tmp"): // fileblob's NAME.HEX.tmp, sqlsim's .NAME.tmpN
			temps++
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = file{size: n, sum: hex.EncodeToString(h.Sum(nil))}
		return nil
	})
	return files, temps, err
}
