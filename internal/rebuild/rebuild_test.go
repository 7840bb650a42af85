package rebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// keys is a test key layout: <primary>/<database>/<kind>/<database>_<kind>_<time>.<bak|trn>.
type keys struct{}

const stamp = "20060102T150405Z"

func ext(k artifact.Kind) string {
	if k == artifact.Full {
		return ".bak"
	}
	return ".trn"
}

func (keys) ArtifactKey(primary, database string, kind artifact.Kind, file string) string {
	return primary + "/" + database + "/" + string(kind) + "/" + file
}

func (keys) ParseArtifactFile(file string) (string, artifact.Kind, time.Time, bool) {
	base := strings.TrimSuffix(strings.TrimSuffix(file, ".bak"), ".trn")
	parts := strings.Split(base, "_")
	if len(parts) != 3 || base == file {
		return "", "", time.Time{}, false
	}
	t, err := time.Parse(stamp, parts[2])
	kind := artifact.Kind(parts[1])
	if err != nil || !kind.Valid() || ext(kind) != file[len(base):] {
		return "", "", time.Time{}, false
	}
	return parts[0], kind, t, true
}

func (keys) ServerPath(base, key string) string { return base + "/" + key }

// world is an estate as a rebuild sees it: storage (bytes by URL and key),
// the primary's history and the standbys' observations.
type world struct {
	cfg      *config.Config
	store    map[string]map[string][]byte
	primary  *engine.PrimaryDatabase
	standbys map[string]*engine.StandbyDatabase // by target
	headers  map[string]artifact.Header         // what Describe reads, by server path
	readErr  map[string]error                   // by URL + key
}

const (
	folderURL = "mem://share"
	folderSP  = `/srv/share`
)

func newWorld() *world {
	folder := &config.BackupFolder{Name: "share", URL: folderURL, ServerPath: folderSP}
	p := &config.Primary{Name: "sales", Engine: "memory", Databases: []string{"Sales"}, Folder: folder}
	mk := func(name string, kind config.TargetKind, mode config.RestoreMode) *config.Target {
		return &config.Target{Name: name, Primary: p, Kind: kind, RestoreMode: mode,
			Destination: config.Destination{URL: "mem://" + name, ServerPath: "/dest/" + name}}
	}
	w := &world{
		cfg: &config.Config{BackupFolders: []*config.BackupFolder{folder}, Primaries: []*config.Primary{p},
			Targets: []*config.Target{mk("east", config.Standby, config.RestoreStandby), mk("west", config.Standby, config.RestoreNoRecovery), mk("vault", config.CopyOnly, "")}},
		store:    map[string]map[string][]byte{folderURL: {}, "mem://east": {}, "mem://west": {}, "mem://vault": {}},
		primary:  &engine.PrimaryDatabase{Name: "Sales", Exists: true, State: "ONLINE", RecoveryModel: "FULL", LogChain: true, Identity: "fork-1", CreatedAt: now.Add(-30 * 24 * time.Hour)},
		standbys: map[string]*engine.StandbyDatabase{},
		headers:  map[string]artifact.Header{},
		readErr:  map[string]error{},
	}
	return w
}

// backup is one of drsctl's backups: taken at t with LSNs first–last.
type backup struct {
	kind        artifact.Kind
	at          time.Time
	first, last string
	family      string
}

func (b backup) file() string {
	return "Sales_" + string(b.kind) + "_" + b.at.UTC().Format(stamp) + ext(b.kind)
}
func (b backup) key() string { return "sales/Sales/" + string(b.kind) + "/" + b.file() }
func (b backup) header() artifact.Header {
	fam := b.family
	if fam == "" {
		fam = "FAM-1"
	}
	return artifact.Header{Kind: b.kind, Database: "Sales", FirstLSN: artifact.LSN(b.first), LastLSN: artifact.LSN(b.last),
		Start: b.at, Finish: b.at.Add(time.Second), FamilyGUID: fam}
}
func (b backup) bytes() []byte { return []byte("bytes of " + b.file()) }

// take writes b into the folder and the primary's history, and copies it
// to the given destinations.
func (w *world) take(b backup, copies ...string) {
	w.store[folderURL][b.key()] = b.bytes()
	w.primary.Backups = append(w.primary.Backups, engine.BackupRecord{Header: b.header(), Path: folderSP + "/" + b.key()})
	for _, t := range copies {
		w.store["mem://"+t][b.key()] = b.bytes()
	}
}

// restored says target t was seeded from seed and stands after last.
func (w *world) restored(t string, state engine.StandbyState, seed, last backup) {
	dest := "/dest/" + t + "/"
	w.standbys[t] = &engine.StandbyDatabase{Name: "Sales", State: state, RawState: strings.ToUpper(string(state)), RedoLSN: artifact.LSN(last.last),
		SeedRestore: &engine.RestoreRecord{At: seed.at.Add(time.Minute), Kind: artifact.Full, FirstLSN: artifact.LSN(seed.first), LastLSN: artifact.LSN(seed.last), Path: dest + seed.key(), FamilyGUID: seed.header().FamilyGUID},
		LastRestore: &engine.RestoreRecord{At: last.at.Add(time.Minute), Kind: last.kind, FirstLSN: artifact.LSN(last.first), LastLSN: artifact.LSN(last.last), Path: dest + last.key()}}
	if state == engine.Online {
		w.standbys[t].RedoLSN = ""
	}
}

func (w *world) observed() *plan.Observed {
	o := &plan.Observed{Refreshed: true,
		Primaries:    map[string]*plan.PrimaryObservation{"sales": {Databases: map[string]*engine.PrimaryDatabase{"Sales": w.primary}}},
		Targets:      map[string]*plan.TargetObservation{},
		Folders:      map[string]*plan.StorageObservation{"share": w.listing(folderURL)},
		Destinations: map[string]*plan.StorageObservation{},
	}
	for _, t := range w.cfg.Targets {
		o.Destinations[t.Name] = w.listing(t.Destination.URL)
		if t.Restores() {
			to := &plan.TargetObservation{Databases: map[string]*engine.StandbyDatabase{}}
			if sd := w.standbys[t.Name]; sd != nil {
				to.Databases["Sales"] = sd
			} else {
				to.Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Absent}
			}
			o.Targets[t.Name] = to
		}
	}
	return o
}

func (w *world) listing(url string) *plan.StorageObservation {
	so := &plan.StorageObservation{Objects: map[string]plan.Object{}}
	for k, b := range w.store[url] {
		so.Objects[k] = plan.Object{Size: int64(len(b)), ModTime: now.Add(-time.Hour)}
	}
	return so
}

func (w *world) Checksum(_ context.Context, url, key string) (int64, string, error) {
	if err := w.readErr[url+key]; err != nil {
		return 0, "", err
	}
	b, ok := w.store[url][key]
	if !ok {
		return 0, "", fmt.Errorf("%s: not found", key)
	}
	s := sha256.Sum256(b)
	return int64(len(b)), hex.EncodeToString(s[:]), nil
}

func (w *world) Describe(_ context.Context, _ *config.Primary, serverPath string) (artifact.Header, error) {
	if h, ok := w.headers[serverPath]; ok {
		return h, nil
	}
	return artifact.Header{}, errors.New("cannot open backup device")
}

func (w *world) rebuild(t *testing.T) (*state.State, *Report) {
	t.Helper()
	st, rep, err := Rebuild(context.Background(), w.cfg, Sources{Observed: w.observed(), Reader: w, Describer: w, Keys: keys{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lineage == "" || st.Serial != 0 {
		t.Fatalf("rebuilt ledger lineage %q serial %d: want a new lineage, serial 0", st.Lineage, st.Serial)
	}
	return st, rep
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func ids(db *state.Database) []string {
	var out []string
	for _, a := range db.Artifacts {
		out = append(out, a.ID)
	}
	return out
}

func notes(rep *Report) string {
	var b strings.Builder
	for _, d := range rep.Databases {
		for _, n := range d.Notes {
			b.WriteString(n + "\n")
		}
	}
	for _, t := range rep.Targets {
		b.WriteString(t.Target + ": " + t.Verdict + "\n")
		for _, n := range t.Notes {
			b.WriteString(t.Target + ": " + n + "\n")
		}
	}
	return b.String()
}

var (
	t0 = now.Add(-3 * time.Hour)
	f1 = backup{kind: artifact.Full, at: t0, first: "100", last: "200"}
	l1 = backup{kind: artifact.Log, at: t0.Add(15 * time.Minute), first: "100", last: "300"}
	l2 = backup{kind: artifact.Log, at: t0.Add(30 * time.Minute), first: "300", last: "400"}
	l3 = backup{kind: artifact.Log, at: t0.Add(45 * time.Minute), first: "400", last: "500"}
)

// A standby mid-chain, another at the end, a copy-only vault: each is
// recorded as drsctl's, where it stands, with its proven copies.
func TestRebuild_StandbysAndVault(t *testing.T) {
	w := newWorld()
	w.take(f1, "east", "west", "vault")
	w.take(l1, "east", "west", "vault")
	w.take(l2, "east", "west", "vault")
	w.take(l3, "east", "vault") // west's server was down: not shipped yet
	w.restored("east", engine.Standby, f1, l3)
	w.restored("west", engine.Restoring, f1, l1)
	st, rep := w.rebuild(t)

	db := st.LookupDatabase("sales", "Sales")
	if got, want := strings.Join(ids(db), " "), strings.Join([]string{f1.file(), l1.file(), l2.file(), l3.file()}, " "); got != want {
		t.Errorf("artifacts %s, want %s", got, want)
	}
	a := db.Artifact(l2.file())
	if a.Key != l2.key() || a.Size != int64(len(l2.bytes())) || a.SHA256 != sha(l2.bytes()) || a.LastLSN != "400" || a.PrunedAt != nil || a.OutOfBand {
		t.Errorf("artifact %+v", a)
	}
	if db.Identity != "fork-1" || db.RecoveryModel != "FULL" || db.Restart != "" {
		t.Errorf("database facts %+v", db)
	}
	east, west, vault := st.LookupTargetDatabase("east", "Sales"), st.LookupTargetDatabase("west", "Sales"), st.LookupTargetDatabase("vault", "Sales")
	if east.SeededFrom != f1.file() || east.Restored == nil || east.Restored.Artifact != l3.file() || east.Restored.Mode != "standby" || len(east.Copies) != 4 {
		t.Errorf("east %+v restored %+v", east, east.Restored)
	}
	if west.SeededFrom != f1.file() || west.Restored == nil || west.Restored.Artifact != l1.file() || west.Restored.Mode != "norecovery" || len(west.Copies) != 3 {
		t.Errorf("west (mid-chain) %+v restored %+v", west, west.Restored)
	}
	if vault.SeededFrom != f1.file() || vault.Restored != nil || len(vault.Copies) != 4 {
		t.Errorf("vault %+v", vault)
	}
	for id, c := range vault.Copies {
		if c.VerifiedAt == nil || c.SHA256 != db.Artifact(id).SHA256 || c.Key != db.Artifact(id).Key {
			t.Errorf("vault copy %s: %+v", id, c)
		}
	}
	if n := notes(rep); strings.Contains(n, "!") || !strings.Contains(n, "stands after "+l1.file()) {
		t.Errorf("report:\n%s", n)
	}
}

// A cleanup job deleted a log from the backup folder: it is recorded from
// the destinations' copies when they agree (pruned from the folder), and
// left out when they differ: no copy is trusted over another.
func TestRebuild_DeletedFromFolder(t *testing.T) {
	for _, differ := range []bool{false, true} {
		t.Run(fmt.Sprintf("copies differ %v", differ), func(t *testing.T) {
			w := newWorld()
			w.take(f1, "east", "west", "vault")
			w.take(l1, "east", "west", "vault")
			w.take(l2, "east", "west", "vault")
			w.restored("east", engine.Standby, f1, l2)
			w.restored("west", engine.Restoring, f1, l1)
			delete(w.store[folderURL], l2.key())
			if differ {
				w.store["mem://vault"][l2.key()] = []byte("bytes of something else entirely")
			}
			st, rep := w.rebuild(t)
			db := st.LookupDatabase("sales", "Sales")
			a := db.Artifact(l2.file())
			if differ {
				if a != nil {
					t.Fatalf("%s recorded from copies that differ: %+v", l2.file(), a)
				}
				if !strings.Contains(notes(rep), "differ: none is trusted") {
					t.Errorf("report does not say why:\n%s", notes(rep))
				}
				return
			}
			if a == nil || a.PrunedAt == nil || a.SHA256 != sha(l2.bytes()) {
				t.Fatalf("%s: %+v; want it recorded from its copies, pruned from the folder", l2.file(), a)
			}
			if c := st.LookupTargetDatabase("west", "Sales").Copies[l2.file()]; c == nil || c.VerifiedAt == nil {
				t.Errorf("west's copy of %s is not recorded: west needs it next", l2.file())
			}
		})
	}
}

// Copies that are truncated, or of the right size with other bytes, are not
// recorded; neither is a striped copy missing a stripe.
func TestRebuild_BadCopiesNotRecorded(t *testing.T) {
	w := newWorld()
	w.take(f1, "east", "vault")
	w.take(l1, "east", "vault")
	w.take(l2, "east", "vault")
	w.restored("east", engine.Standby, f1, l2)
	w.store["mem://vault"][l1.key()] = w.store["mem://vault"][l1.key()][:5]
	good := l2.bytes()
	bad := append([]byte{}, good...)
	bad[0] ^= 1
	w.store["mem://vault"][l2.key()] = bad
	st, rep := w.rebuild(t)
	vault := st.LookupTargetDatabase("vault", "Sales")
	if vault.Copies[l1.file()] != nil || vault.Copies[l2.file()] != nil || vault.Copies[f1.file()] == nil {
		t.Errorf("vault copies %v: want only the full's (one truncated, one with other bytes)", vault.Copies)
	}
	n := notes(rep)
	if !strings.Contains(n, "has 5 bytes") || !strings.Contains(n, "differs from the backup's bytes") {
		t.Errorf("report:\n%s", n)
	}
}

// A striped full: every stripe is recorded with the artifact; a copy
// missing one stripe is not recorded.
func TestRebuild_StripedBackup(t *testing.T) {
	w := newWorld()
	w.take(f1, "east", "vault")
	// Make f1 a backup of two stripes.
	w.primary.Backups[0].Stripes = 2
	s2 := artifact.StripePath(f1.key(), 2, 2)
	w.store[folderURL][s2] = []byte("stripe two")
	w.store["mem://east"][s2] = []byte("stripe two")
	w.restored("east", engine.Restoring, f1, f1)
	st, rep := w.rebuild(t)
	a := st.LookupDatabase("sales", "Sales").Artifact(f1.file())
	if a == nil || len(a.More) != 1 || a.More[0].Key != s2 || a.More[0].SHA256 != sha([]byte("stripe two")) {
		t.Fatalf("striped artifact %+v", a)
	}
	if len(st.LookupDatabase("sales", "Sales").Artifacts) != 1 {
		t.Errorf("the second stripe was taken for an artifact of its own: %v", ids(st.LookupDatabase("sales", "Sales")))
	}
	if c := st.LookupTargetDatabase("east", "Sales").Copies[f1.file()]; c == nil {
		t.Errorf("east's whole striped copy is not recorded")
	}
	if td := st.LookupTargetDatabase("vault", "Sales"); td != nil || !strings.Contains(notes(rep), "is missing") {
		t.Errorf("the vault's copy lacks stripe 2 and is recorded %+v\n%s", td, notes(rep))
	}
}

// Standbys drsctl did not seed are left out of the ledger: seeded from a
// file elsewhere, from a key of drsctl's whose LSNs do not match, with no
// full restore in the history; a promoted one drsctl seeded is recorded as
// promoted.
func TestRebuild_OnlyDrsctlsStandbysAdopted(t *testing.T) {
	cases := []struct {
		name  string
		mut   func(sd *engine.StandbyDatabase)
		state engine.StandbyState
		adopt bool
		why   string
	}{
		{name: "seeded by drsctl", adopt: true},
		{name: "restored from elsewhere", mut: func(sd *engine.StandbyDatabase) { sd.SeedRestore.Path = "/mnt/dba/nightly.bak" }, why: "not from the target's destination"},
		{name: "drsctl's name, other LSNs", mut: func(sd *engine.StandbyDatabase) { sd.SeedRestore.LastLSN = "199" }, why: "LSNs or family are not those"},
		{name: "drsctl's name, other family", mut: func(sd *engine.StandbyDatabase) { sd.SeedRestore.FamilyGUID = "FAM-OTHER" }, why: "LSNs or family are not those"},
		{name: "no full restore in history", mut: func(sd *engine.StandbyDatabase) { sd.SeedRestore = nil }, why: "no full restore"},
		{name: "a file at the destination drsctl did not write", mut: func(sd *engine.StandbyDatabase) { sd.SeedRestore.Path = "/dest/east/sales/Sales/full/mine.bak" }, why: "not one of drsctl's backups"},
		{name: "promoted", state: engine.Online, adopt: true},
		{name: "online, not drsctl's", state: engine.Online, mut: func(sd *engine.StandbyDatabase) { sd.SeedRestore.Path = "/mnt/dba/nightly.bak" }, why: "not from the target's destination"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld()
			w.take(f1, "east")
			w.take(l1, "east")
			state0 := c.state
			if state0 == "" {
				state0 = engine.Standby
			}
			w.restored("east", state0, f1, l1)
			if c.mut != nil {
				c.mut(w.standbys["east"])
			}
			st, rep := w.rebuild(t)
			td := st.LookupTargetDatabase("east", "Sales")
			if !c.adopt {
				if td != nil {
					t.Fatalf("east recorded though drsctl did not seed it: %+v", td)
				}
				if n := notes(rep); !strings.Contains(n, "east: left alone") || !strings.Contains(n, c.why) {
					t.Errorf("report does not say why (%q):\n%s", c.why, n)
				}
				return
			}
			if td == nil || td.SeededFrom != f1.file() {
				t.Fatalf("east %+v: want seeded from %s", td, f1.file())
			}
			if c.state == engine.Online {
				if td.PromotedAt == nil || td.PromotedHow != state.PromoteRecorded || td.PromotedLSN != "300" || td.Restored != nil {
					t.Errorf("promoted east %+v", td)
				}
				return
			}
			if td.PromotedAt != nil || td.Restored == nil || td.Restored.Artifact != l1.file() {
				t.Errorf("east %+v restored %+v", td, td.Restored)
			}
		})
	}
}

// The full a standby was seeded from was pruned everywhere since; the
// primary's history still says what drsctl wrote under its key.
func TestRebuild_SeedPrunedEverywhere(t *testing.T) {
	w := newWorld()
	w.take(f1)
	w.take(l1, "west")
	w.take(l2, "west")
	delete(w.store[folderURL], f1.key())
	w.restored("west", engine.Restoring, f1, l1)
	st, _ := w.rebuild(t)
	if a := st.LookupDatabase("sales", "Sales").Artifact(f1.file()); a != nil {
		t.Errorf("a backup with no file anywhere is recorded: %+v", a)
	}
	td := st.LookupTargetDatabase("west", "Sales")
	if td == nil || td.SeededFrom != f1.file() || td.Restored == nil || td.Restored.Artifact != l1.file() {
		t.Errorf("west %+v: want seeded from %s (by the primary's history), standing after %s", td, f1.file(), l1.file())
	}
}

// Backups drsctl did not take (a DBA's log in the folder under another
// name, a log elsewhere) are not made drsctl's; a folder file the history
// no longer describes (history cleaned up) is described by its header, or
// left out when that cannot be read.
func TestRebuild_ForeignBackupsAndCleanedHistory(t *testing.T) {
	w := newWorld()
	w.take(f1, "vault")
	w.take(l1, "vault")
	w.take(l2, "vault")
	dba := engine.BackupRecord{Header: artifact.Header{Kind: artifact.Log, Database: "Sales", FirstLSN: "400", LastLSN: "450", FamilyGUID: "FAM-1"}, Path: folderSP + "/manual/Sales_1.trn"}
	w.store[folderURL]["manual/Sales_1.trn"] = []byte("dba")
	elsewhere := engine.BackupRecord{Header: artifact.Header{Kind: artifact.Log, Database: "Sales", FirstLSN: "450", LastLSN: "480", FamilyGUID: "FAM-1"}, Path: "/mnt/elsewhere/Sales.trn"}
	// A DBA's log named as drsctl names its own, but not where drsctl
	// puts them: not drsctl's either (the next plan adopts it).
	lookalike := backup{kind: artifact.Log, at: t0.Add(time.Hour), first: "480", last: "490"}
	w.store[folderURL]["manual/"+lookalike.file()] = lookalike.bytes()
	w.primary.Backups = append(w.primary.Backups, dba, elsewhere,
		engine.BackupRecord{Header: lookalike.header(), Path: folderSP + "/manual/" + lookalike.file()})
	// History cleaned up: l1 and l2 are no longer in it; l1's header reads.
	w.primary.Backups = append(w.primary.Backups[:1], w.primary.Backups[3:]...)
	w.headers[folderSP+"/"+l1.key()] = l1.header()
	st, rep := w.rebuild(t)
	db := st.LookupDatabase("sales", "Sales")
	if got, want := strings.Join(ids(db), " "), f1.file()+" "+l1.file(); got != want {
		t.Errorf("artifacts %s, want %s", got, want)
	}
	if n := notes(rep); !strings.Contains(n, l2.file()+" is in the backup folder but neither the primary's history nor its header describes it") {
		t.Errorf("report:\n%s", n)
	}
	if a := db.Artifact(l1.file()); a == nil || a.LastLSN != "300" {
		t.Errorf("%s described by its header: %+v", l1.file(), a)
	}
	if len(rep.Databases[0].Artifacts) != 2 || !strings.Contains(rep.Databases[0].Artifacts[1], "its header") {
		t.Errorf("report artifacts %v", rep.Databases[0].Artifacts)
	}
}

// Taken order: by the time in drsctl's names, LSNs breaking a tie within a
// second (a log and a full taken in one apply); a full of another family
// begins a new fork.
func TestRebuild_OrderAndForks(t *testing.T) {
	w := newWorld()
	at := t0.Add(time.Hour)
	f2 := backup{kind: artifact.Full, at: at, first: "300", last: "350"}
	lTie := backup{kind: artifact.Log, at: at, first: "100", last: "300"}
	f3 := backup{kind: artifact.Full, at: at.Add(time.Hour), first: "10", last: "20", family: "FAM-2"}
	w.take(f3)
	w.take(f2)
	w.take(lTie)
	w.take(f1)
	st, _ := w.rebuild(t)
	db := st.LookupDatabase("sales", "Sales")
	if got, want := strings.Join(ids(db), " "), strings.Join([]string{f1.file(), lTie.file(), f2.file(), f3.file()}, " "); got != want {
		t.Errorf("order %s\nwant  %s", got, want)
	}
	for _, a := range db.Artifacts {
		if a.NewFork != (a.ID == f3.file()) {
			t.Errorf("%s NewFork %v", a.ID, a.NewFork)
		}
	}
}

// The primary's chain stands before the end of drsctl's logs (restored to
// an earlier point): the rebuilt ledger says the chain restarted.
func TestRebuild_ChainBehindRestarts(t *testing.T) {
	w := newWorld()
	w.take(f1)
	w.take(l1)
	w.take(l2)
	w.primary.ChainLSN = "300"
	st, _ := w.rebuild(t)
	if r := st.LookupDatabase("sales", "Sales").Restart; !strings.Contains(r, "restored to an earlier point") {
		t.Errorf("Restart %q", r)
	}
	w.primary.ChainLSN = "400"
	st, _ = w.rebuild(t)
	if r := st.LookupDatabase("sales", "Sales").Restart; r != "" {
		t.Errorf("Restart %q with the chain where drsctl's logs end", r)
	}
}

// Anything that could not be observed fails the rebuild: nothing is
// returned, and the error names it.
func TestRebuild_RefusesOnAnyFailedObservation(t *testing.T) {
	for name, mut := range map[string]func(o *plan.Observed){
		"primary":     func(o *plan.Observed) { o.Primaries["sales"].Err = "primary down" },
		"folder":      func(o *plan.Observed) { o.Folders["share"].Err = "folder unlistable" },
		"destination": func(o *plan.Observed) { o.Destinations["vault"].Err = "vault unlistable" },
		"standby":     func(o *plan.Observed) { o.Targets["west"] = &plan.TargetObservation{Err: "west down"} },
		"not asked":   func(o *plan.Observed) { delete(o.Targets, "east") },
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			w.take(f1, "east")
			o := w.observed()
			mut(o)
			st, rep, err := Rebuild(context.Background(), w.cfg, Sources{Observed: o, Reader: w, Describer: w, Keys: keys{}, Now: now})
			if err == nil || st != nil || rep != nil || !strings.Contains(err.Error(), "nothing was written") {
				t.Fatalf("Rebuild = %v, %v, %v", st, rep, err)
			}
		})
	}
}

// A read that fails leaves that file out, with why; nothing is invented.
func TestRebuild_UnreadableFileLeftOut(t *testing.T) {
	w := newWorld()
	w.take(f1, "east")
	w.take(l1, "east")
	w.restored("east", engine.Standby, f1, l1)
	w.readErr[folderURL+l1.key()] = errors.New("permission denied")
	w.readErr["mem://east"+f1.key()] = errors.New("permission denied")
	st, rep := w.rebuild(t)
	if a := st.LookupDatabase("sales", "Sales").Artifact(l1.file()); a != nil {
		t.Errorf("an unreadable backup is recorded: %+v", a)
	}
	east := st.LookupTargetDatabase("east", "Sales")
	if east.Copies[f1.file()] != nil {
		t.Errorf("an unreadable copy is recorded")
	}
	if n := notes(rep); !strings.Contains(n, "permission denied") || !strings.Contains(n, path.Base(l1.key())) {
		t.Errorf("report:\n%s", n)
	}
}
