package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// This file is the on-disk format of the ledger, kept apart from the domain
// types in state.go: the structs below are what the JSON looks like, and
// fromFile/toFile are the only code that crosses between the two. A change
// to the format bumps fileVersion, renames these structs' role to "the old
// version" and adds an entry to upgrades.

// fileVersion is the version this drsctl writes and the newest it reads.
const fileVersion = 4

// upgrades[v] rewrites a version-v state file as version v+1. Reading an
// older file applies them in turn until it is at fileVersion, and only then
// decodes it into fileV4 (or whatever the current struct is then). Each
// function decodes its own version with its own (frozen) struct, so an old
// upgrade never changes when the current format does.
var upgrades = map[int]func(raw []byte) ([]byte, error){
	1: upgradeV1, // statefile_v1.go
	2: upgradeV2, // statefile_v2.go
	3: upgradeV3, // statefile_v3.go
}

// fileV4 is version 4 of the state file, the current one (versions 1 to 3
// are frozen in statefile_v1.go, statefile_v2.go and statefile_v3.go). Field order here is the key order in the
// file; maps are written with sorted keys. Version 2 added identity,
// new_fork, completed and seeding; version 3 added promoted_how,
// promoted_lsn, reprotect_at and the drills; version 4 added an artifact's
// stripes; all optional.
type fileV4 struct {
	Version   int                       `json:"version"`
	Lineage   string                    `json:"lineage"`
	Serial    uint64                    `json:"serial"`
	Primaries map[string]*filePrimaryV4 `json:"primaries"`
	Targets   map[string]*fileTargetV4  `json:"targets"`
}

type filePrimaryV4 struct {
	Databases map[string]*fileDatabaseV4 `json:"databases"`
}

type fileDatabaseV4 struct {
	RecoveryModel string            `json:"recovery_model"`
	CreatedAt     string            `json:"created_at"`
	Identity      string            `json:"identity,omitempty"`
	Restart       string            `json:"restart,omitempty"`
	Artifacts     []*fileArtifactV4 `json:"artifacts"`
}

type fileArtifactV4 struct {
	ID                string `json:"id"`
	Kind              string `json:"kind"`
	Database          string `json:"database"`
	Key               string `json:"key"`
	Size              int64  `json:"size"`
	SHA256            string `json:"sha256"`
	FirstLSN          string `json:"first_lsn"`
	LastLSN           string `json:"last_lsn"`
	CheckpointLSN     string `json:"checkpoint_lsn"`
	DatabaseBackupLSN string `json:"database_backup_lsn"`
	Start             string `json:"start"`
	Finish            string `json:"finish"`
	CopyOnly          bool   `json:"copy_only"`
	FamilyGUID        string `json:"family_guid"`
	OutOfBand         bool   `json:"out_of_band"`
	PrunedAt          string `json:"pruned_at,omitempty"`
	DamagedAt         string `json:"damaged_at,omitempty"`
	NewFork           bool   `json:"new_fork,omitempty"`
	Completed         string `json:"completed,omitempty"`
	// Stripes are the files after the first (key, size, sha256 above) of
	// a backup striped across several.
	Stripes []*fileStripeV4 `json:"stripes,omitempty"`
}

type fileStripeV4 struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type fileTargetV4 struct {
	Databases map[string]*fileTargetDatabaseV4 `json:"databases"`
}

type fileTargetDatabaseV4 struct {
	SeededFrom  string                 `json:"seeded_from"`
	Seeding     string                 `json:"seeding,omitempty"`
	Copies      map[string]*fileCopyV4 `json:"copies"`
	Restored    *fileRestoreV4         `json:"restored,omitempty"`
	PromotedAt  string                 `json:"promoted_at,omitempty"`
	PromotedHow string                 `json:"promoted_how,omitempty"`
	PromotedLSN string                 `json:"promoted_lsn,omitempty"`
	ReprotectAt string                 `json:"reprotect_at,omitempty"`
	LastDrill   *fileDrillV4           `json:"last_drill,omitempty"`
	DrillOKAt   string                 `json:"drill_ok_at,omitempty"`
}

type fileDrillV4 struct {
	At         string `json:"at"`
	DurationMS int64  `json:"duration_ms"`
	Artifact   string `json:"artifact"`
	Through    string `json:"through"`
	StopAt     string `json:"stop_at,omitempty"`
	OK         bool   `json:"ok"`
	Check      string `json:"check,omitempty"`
	Error      string `json:"error,omitempty"`
}

type fileCopyV4 struct {
	Key        string `json:"key"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	ShippedAt  string `json:"shipped_at"`
	VerifiedAt string `json:"verified_at,omitempty"`
	ModTime    string `json:"mod_time,omitempty"`
}

type fileRestoreV4 struct {
	Artifact string `json:"artifact"`
	Kind     string `json:"kind"`
	LastLSN  string `json:"last_lsn"`
	Mode     string `json:"mode"`
	At       string `json:"at"`
}

// Read decodes a state file of any version this drsctl understands,
// upgrading older versions. It refuses anything it cannot account for in
// full: a newer or unknown version, invalid or truncated JSON, unknown
// fields, a missing lineage, unparseable LSNs or times (and times Write
// could not write: outside the years 0000-9999 in UTC), unknown artifact
// kinds, duplicate artifact IDs. Nothing is ever guessed or dropped.
func Read(r io.Reader) (*State, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	if IsSnapshot(raw) {
		return ReadSnapshot(raw)
	}
	f, err := decode(raw, fileVersion, upgrades)
	if err != nil {
		return nil, err
	}
	return fromFile(f)
}

// Write encodes s as the current version: indented, keys in a fixed order,
// with a trailing newline. It refuses a state Read would refuse, so a file
// drsctl wrote can always be read back.
func Write(s *State, w io.Writer) error {
	f, err := toFile(s)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil { // Encode adds the trailing newline
		return fmt.Errorf("encode state: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// decode checks the version, upgrades raw to version current and decodes it
// strictly. current and ups are parameters so the upgrade chain can be tested
// with versions that do not exist yet.
func decode(raw []byte, current int, ups map[int]func([]byte) ([]byte, error)) (*fileV4, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("state file is empty")
	}
	var probe struct {
		Version *json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, jsonError(raw, err)
	}
	if probe.Version == nil {
		return nil, errors.New("state file has no version")
	}
	var v int
	if err := json.Unmarshal(*probe.Version, &v); err != nil {
		return nil, fmt.Errorf("state file version %s is not a whole number", *probe.Version)
	}
	switch {
	case v > current:
		return nil, fmt.Errorf("state file version %d is newer than this drsctl understands (%d); upgrade drsctl", v, current)
	case v < 1:
		return nil, fmt.Errorf("state file version %d is not valid", v)
	}
	for ; v < current; v++ {
		up := ups[v]
		if up == nil {
			return nil, fmt.Errorf("state file version %d is no longer supported by this drsctl", v)
		}
		next, err := up(raw)
		if err != nil {
			return nil, fmt.Errorf("upgrade state file from version %d to %d: %w", v, v+1, err)
		}
		raw = next
	}
	var f fileV4
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(raw, err)
	}
	if f.Version != current {
		// Only an upgrade function that forgot to set the version gets here.
		return nil, fmt.Errorf("state file version %d after upgrading, want %d", f.Version, current)
	}
	return &f, nil
}

// jsonError turns encoding/json's errors into messages about the state file,
// with the place of the problem.
func jsonError(raw []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		if int(se.Offset) >= len(bytes.TrimRight(raw, " \t\r\n")) {
			return fmt.Errorf("state file is truncated: the JSON ends early at %s", where(raw, se.Offset))
		}
		// Offset counts the bytes read, the bad one included.
		return fmt.Errorf("state file is not valid JSON: %s at %s", se.Error(), where(raw, max(se.Offset-1, 0)))
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Errorf("state file is not a JSON object: found %s at %s", te.Value, where(raw, te.Offset))
		}
		return fmt.Errorf("state file field %s: found JSON %s where %s belongs, at %s", te.Field, te.Value, jsonKind(te.Type), where(raw, te.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("state file is truncated: the JSON ends early at %s", where(raw, int64(len(raw))))
	default:
		// DisallowUnknownFields: `json: unknown field "x"`.
		return fmt.Errorf("state file: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// where says "line L, column C (byte offset N)" for a byte offset in raw.
func where(raw []byte, off int64) string {
	if off > int64(len(raw)) {
		off = int64(len(raw))
	}
	line := 1 + bytes.Count(raw[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(raw[:off], '\n'))
	return fmt.Sprintf("line %d, column %d (byte offset %d)", line, col, off)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "a whole number"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	case reflect.Slice:
		return "an array"
	default:
		return t.String()
	}
}

// fromFile turns the decoded file into the domain, validating as it goes.
// Every error names the address of the object at fault.
func fromFile(f *fileV4) (*State, error) {
	if f.Lineage == "" {
		return nil, errors.New("state file has no lineage")
	}
	s := New(f.Lineage)
	s.Serial = f.Serial
	for pname, fp := range f.Primaries {
		if fp == nil {
			return nil, fmt.Errorf("state file: %s is null", primaryAddr(pname))
		}
		p := s.Primary(pname)
		for dname, fd := range fp.Databases {
			addr := databaseAddr(pname, dname)
			if fd == nil {
				return nil, fmt.Errorf("state file: %s is null", addr)
			}
			d := &Database{RecoveryModel: fd.RecoveryModel, Identity: fd.Identity, Restart: fd.Restart}
			var err error
			if d.CreatedAt, err = parseTime(fd.CreatedAt); err != nil {
				return nil, fmt.Errorf("state file: %s: created_at: %w", addr, err)
			}
			seen := map[string]bool{}
			for i, fa := range fd.Artifacts {
				if fa == nil {
					return nil, fmt.Errorf("state file: %s: artifacts[%d] is null", addr, i)
				}
				if fa.ID == "" {
					return nil, fmt.Errorf("state file: %s: artifacts[%d] has no id", addr, i)
				}
				if seen[fa.ID] {
					return nil, fmt.Errorf("state file: %s: artifact %q appears twice", addr, fa.ID)
				}
				seen[fa.ID] = true
				a, err := artifactFromFile(fa)
				if err != nil {
					return nil, fmt.Errorf("state file: %s: %w", artifactAddr(pname, dname, fa.ID), err)
				}
				d.Artifacts = append(d.Artifacts, a)
			}
			p.Databases[dname] = d
		}
	}
	for tname, ft := range f.Targets {
		if ft == nil {
			return nil, fmt.Errorf("state file: %s is null", targetAddr(tname))
		}
		t := s.Target(tname)
		for dname, fd := range ft.Databases {
			addr := targetDatabaseAddr(tname, dname)
			if fd == nil {
				return nil, fmt.Errorf("state file: %s is null", addr)
			}
			d, err := targetDatabaseFromFile(fd)
			if err != nil {
				return nil, fmt.Errorf("state file: %s: %w", addr, err)
			}
			t.Databases[dname] = d
		}
	}
	return s, nil
}

func artifactFromFile(fa *fileArtifactV4) (*Artifact, error) {
	a := &Artifact{
		ID:        fa.ID,
		Key:       fa.Key,
		Size:      fa.Size,
		SHA256:    fa.SHA256,
		OutOfBand: fa.OutOfBand,
		NewFork:   fa.NewFork,
	}
	a.Kind = artifact.Kind(fa.Kind)
	if !a.Kind.Valid() {
		return nil, fmt.Errorf("unknown artifact kind %q (want %q or %q)", fa.Kind, artifact.Full, artifact.Log)
	}
	a.Database = fa.Database
	a.CopyOnly = fa.CopyOnly
	a.FamilyGUID = fa.FamilyGUID
	var err error
	for _, l := range []struct {
		name string
		in   string
		out  *artifact.LSN
	}{
		{"first_lsn", fa.FirstLSN, &a.FirstLSN},
		{"last_lsn", fa.LastLSN, &a.LastLSN},
		{"checkpoint_lsn", fa.CheckpointLSN, &a.CheckpointLSN},
		{"database_backup_lsn", fa.DatabaseBackupLSN, &a.DatabaseBackupLSN},
	} {
		if *l.out, err = parseLSN(l.in); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	if a.Start, err = parseTime(fa.Start); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if a.Finish, err = parseTime(fa.Finish); err != nil {
		return nil, fmt.Errorf("finish: %w", err)
	}
	if a.DamagedAt, err = parseOptTime(fa.DamagedAt); err != nil {
		return nil, fmt.Errorf("damaged_at: %w", err)
	}
	if a.PrunedAt, err = parseOptTime(fa.PrunedAt); err != nil {
		return nil, fmt.Errorf("pruned_at: %w", err)
	}
	if fa.Completed != "" {
		if a.Completed, err = parseTime(fa.Completed); err != nil {
			return nil, fmt.Errorf("completed: %w", err)
		}
	}
	for i, fs := range fa.Stripes {
		if err := checkStripe(fs, i); err != nil {
			return nil, err
		}
		a.More = append(a.More, Stripe{Key: fs.Key, Size: fs.Size, SHA256: fs.SHA256})
	}
	if len(a.More) > 0 {
		a.Stripes = len(a.More) + 1
	}
	return a, nil
}

func targetDatabaseFromFile(fd *fileTargetDatabaseV4) (*TargetDatabase, error) {
	d := &TargetDatabase{SeededFrom: fd.SeededFrom, Seeding: fd.Seeding, Copies: map[string]*Copy{}}
	var err error
	for id, fc := range fd.Copies {
		if fc == nil {
			return nil, fmt.Errorf("copy %q is null", id)
		}
		c := &Copy{Key: fc.Key, Size: fc.Size, SHA256: fc.SHA256}
		if c.ShippedAt, err = parseTime(fc.ShippedAt); err != nil {
			return nil, fmt.Errorf("copy %q: shipped_at: %w", id, err)
		}
		if c.VerifiedAt, err = parseOptTime(fc.VerifiedAt); err != nil {
			return nil, fmt.Errorf("copy %q: verified_at: %w", id, err)
		}
		if fc.ModTime != "" {
			if c.ModTime, err = parseTime(fc.ModTime); err != nil {
				return nil, fmt.Errorf("copy %q: mod_time: %w", id, err)
			}
		}
		d.Copies[id] = c
	}
	if fr := fd.Restored; fr != nil {
		r := &Restore{Artifact: fr.Artifact, Kind: artifact.Kind(fr.Kind), Mode: fr.Mode}
		if !r.Kind.Valid() {
			return nil, fmt.Errorf("restored: unknown artifact kind %q (want %q or %q)", fr.Kind, artifact.Full, artifact.Log)
		}
		if r.LastLSN, err = parseLSN(fr.LastLSN); err != nil {
			return nil, fmt.Errorf("restored: last_lsn: %w", err)
		}
		if r.At, err = parseTime(fr.At); err != nil {
			return nil, fmt.Errorf("restored: at: %w", err)
		}
		d.Restored = r
	}
	if d.PromotedAt, err = parseOptTime(fd.PromotedAt); err != nil {
		return nil, fmt.Errorf("promoted_at: %w", err)
	}
	if err := checkPromotedHow(fd.PromotedHow); err != nil {
		return nil, err
	}
	d.PromotedHow = fd.PromotedHow
	if d.PromotedLSN, err = parseLSN(fd.PromotedLSN); err != nil {
		return nil, fmt.Errorf("promoted_lsn: %w", err)
	}
	if d.ReprotectAt, err = parseOptTime(fd.ReprotectAt); err != nil {
		return nil, fmt.Errorf("reprotect_at: %w", err)
	}
	if d.DrillOKAt, err = parseOptTime(fd.DrillOKAt); err != nil {
		return nil, fmt.Errorf("drill_ok_at: %w", err)
	}
	if fr := fd.LastDrill; fr != nil {
		dr := &Drill{Artifact: fr.Artifact, OK: fr.OK, Check: fr.Check, Error: fr.Error}
		if fr.DurationMS < 0 || fr.DurationMS > int64(math.MaxInt64/time.Millisecond) {
			return nil, fmt.Errorf("last_drill: duration_ms %d is out of range", fr.DurationMS)
		}
		dr.Duration = time.Duration(fr.DurationMS) * time.Millisecond
		if dr.At, err = parseTime(fr.At); err != nil {
			return nil, fmt.Errorf("last_drill: at: %w", err)
		}
		if dr.Through, err = parseTime(fr.Through); err != nil {
			return nil, fmt.Errorf("last_drill: through: %w", err)
		}
		if fr.StopAt != "" {
			if dr.StopAt, err = parseTime(fr.StopAt); err != nil {
				return nil, fmt.Errorf("last_drill: stop_at: %w", err)
			}
		}
		d.LastDrill = dr
	}
	return d, nil
}

// toFile turns the domain into the current file version. It applies the
// same checks as fromFile so that Write never produces an unreadable file.
func toFile(s *State) (*fileV4, error) {
	if s == nil {
		return nil, errors.New("encode state: no state")
	}
	if s.Lineage == "" {
		return nil, errors.New("encode state: the state has no lineage")
	}
	f := &fileV4{
		Version:   fileVersion,
		Lineage:   s.Lineage,
		Serial:    s.Serial,
		Primaries: map[string]*filePrimaryV4{},
		Targets:   map[string]*fileTargetV4{},
	}
	for pname, p := range s.Primaries {
		fp := &filePrimaryV4{Databases: map[string]*fileDatabaseV4{}}
		if p != nil {
			for dname, d := range p.Databases {
				fd, err := databaseToFile(d)
				if err != nil {
					return nil, fmt.Errorf("encode state: %s: %w", databaseAddr(pname, dname), err)
				}
				fp.Databases[dname] = fd
			}
		}
		f.Primaries[pname] = fp
	}
	for tname, t := range s.Targets {
		ft := &fileTargetV4{Databases: map[string]*fileTargetDatabaseV4{}}
		if t != nil {
			for dname, d := range t.Databases {
				fd, err := targetDatabaseToFile(d)
				if err != nil {
					return nil, fmt.Errorf("encode state: %s: %w", targetDatabaseAddr(tname, dname), err)
				}
				ft.Databases[dname] = fd
			}
		}
		f.Targets[tname] = ft
	}
	return f, nil
}

func databaseToFile(d *Database) (*fileDatabaseV4, error) {
	if d == nil {
		d = &Database{}
	}
	var tf timeFormatter
	fd := &fileDatabaseV4{
		RecoveryModel: d.RecoveryModel,
		CreatedAt:     tf.time("created_at", d.CreatedAt),
		Identity:      d.Identity,
		Restart:       d.Restart,
		Artifacts:     []*fileArtifactV4{},
	}
	if tf.err != nil {
		return nil, tf.err
	}
	seen := map[string]bool{}
	for i, a := range d.Artifacts {
		if a == nil {
			return nil, fmt.Errorf("artifacts[%d] is nil", i)
		}
		if a.ID == "" {
			return nil, fmt.Errorf("artifacts[%d] has no ID", i)
		}
		if seen[a.ID] {
			return nil, fmt.Errorf("artifact %q appears twice", a.ID)
		}
		seen[a.ID] = true
		fa, err := artifactToFile(a)
		if err != nil {
			return nil, fmt.Errorf("artifact %q: %w", a.ID, err)
		}
		fd.Artifacts = append(fd.Artifacts, fa)
	}
	return fd, nil
}

func artifactToFile(a *Artifact) (*fileArtifactV4, error) {
	if !a.Kind.Valid() {
		return nil, fmt.Errorf("unknown artifact kind %q", a.Kind)
	}
	for _, l := range []artifact.LSN{a.FirstLSN, a.LastLSN, a.CheckpointLSN, a.DatabaseBackupLSN} {
		if _, err := parseLSN(string(l)); err != nil {
			return nil, err
		}
	}
	var tf timeFormatter
	fa := &fileArtifactV4{
		ID:                a.ID,
		Kind:              string(a.Kind),
		Database:          a.Database,
		Key:               a.Key,
		Size:              a.Size,
		SHA256:            a.SHA256,
		FirstLSN:          string(a.FirstLSN),
		LastLSN:           string(a.LastLSN),
		CheckpointLSN:     string(a.CheckpointLSN),
		DatabaseBackupLSN: string(a.DatabaseBackupLSN),
		Start:             tf.time("start", a.Start),
		Finish:            tf.time("finish", a.Finish),
		CopyOnly:          a.CopyOnly,
		FamilyGUID:        a.FamilyGUID,
		OutOfBand:         a.OutOfBand,
		PrunedAt:          tf.optTime("pruned_at", a.PrunedAt),
		DamagedAt:         tf.optTime("damaged_at", a.DamagedAt),
		NewFork:           a.NewFork,
	}
	if !a.Completed.IsZero() {
		fa.Completed = tf.time("completed", a.Completed)
	}
	if a.Stripes > 1 != (len(a.More) > 0) || len(a.More) > 0 && a.Stripes != len(a.More)+1 {
		return nil, fmt.Errorf("striped across %d files but %d recorded after the first", a.Stripes, len(a.More))
	}
	for i, st := range a.More {
		fs := &fileStripeV4{Key: st.Key, Size: st.Size, SHA256: st.SHA256}
		if err := checkStripe(fs, i); err != nil {
			return nil, err
		}
		fa.Stripes = append(fa.Stripes, fs)
	}
	if tf.err != nil {
		return nil, tf.err
	}
	return fa, nil
}

func targetDatabaseToFile(d *TargetDatabase) (*fileTargetDatabaseV4, error) {
	if d == nil {
		d = &TargetDatabase{}
	}
	var tf timeFormatter
	fd := &fileTargetDatabaseV4{
		SeededFrom:  d.SeededFrom,
		Seeding:     d.Seeding,
		Copies:      map[string]*fileCopyV4{},
		PromotedAt:  tf.optTime("promoted_at", d.PromotedAt),
		PromotedHow: d.PromotedHow,
		PromotedLSN: string(d.PromotedLSN),
		ReprotectAt: tf.optTime("reprotect_at", d.ReprotectAt),
		DrillOKAt:   tf.optTime("drill_ok_at", d.DrillOKAt),
	}
	if err := checkPromotedHow(d.PromotedHow); err != nil {
		return nil, err
	}
	if _, err := parseLSN(string(d.PromotedLSN)); err != nil {
		return nil, fmt.Errorf("promoted_lsn: %w", err)
	}
	if dr := d.LastDrill; dr != nil {
		if dr.Duration < 0 {
			return nil, fmt.Errorf("last_drill: negative duration %s", dr.Duration)
		}
		fd.LastDrill = &fileDrillV4{
			At:         tf.time("last_drill: at", dr.At),
			DurationMS: dr.Duration.Milliseconds(),
			Artifact:   dr.Artifact,
			Through:    tf.time("last_drill: through", dr.Through),
			OK:         dr.OK,
			Check:      dr.Check,
			Error:      dr.Error,
		}
		if !dr.StopAt.IsZero() {
			fd.LastDrill.StopAt = tf.time("last_drill: stop_at", dr.StopAt)
		}
	}
	for id, c := range d.Copies {
		if c == nil {
			return nil, fmt.Errorf("copy %q is nil", id)
		}
		var ctf timeFormatter
		fd.Copies[id] = &fileCopyV4{
			Key:        c.Key,
			Size:       c.Size,
			SHA256:     c.SHA256,
			ShippedAt:  ctf.time("shipped_at", c.ShippedAt),
			VerifiedAt: ctf.optTime("verified_at", c.VerifiedAt),
		}
		if !c.ModTime.IsZero() {
			fd.Copies[id].ModTime = ctf.time("mod_time", c.ModTime)
		}
		if ctf.err != nil {
			return nil, fmt.Errorf("copy %q: %w", id, ctf.err)
		}
	}
	if r := d.Restored; r != nil {
		if !r.Kind.Valid() {
			return nil, fmt.Errorf("restored: unknown artifact kind %q", r.Kind)
		}
		if _, err := parseLSN(string(r.LastLSN)); err != nil {
			return nil, fmt.Errorf("restored: last_lsn: %w", err)
		}
		fd.Restored = &fileRestoreV4{
			Artifact: r.Artifact,
			Kind:     string(r.Kind),
			LastLSN:  string(r.LastLSN),
			Mode:     r.Mode,
			At:       tf.time("restored: at", r.At),
		}
	}
	if tf.err != nil {
		return nil, tf.err
	}
	return fd, nil
}

// checkStripe refuses a stripe without a key, or null.
func checkStripe(fs *fileStripeV4, i int) error {
	if fs == nil {
		return fmt.Errorf("stripes[%d] is null", i)
	}
	if fs.Key == "" || fs.SHA256 == "" || fs.Size < 0 {
		return fmt.Errorf("stripes[%d] needs a key, a size and a sha256", i)
	}
	return nil
}

// checkPromotedHow refuses a promotion kind this drsctl does not know.
func checkPromotedHow(how string) error {
	switch how {
	case "", PromotePlanned, PromoteUnplanned, PromoteRecorded:
		return nil
	}
	return fmt.Errorf("promoted_how: unknown value %q (want %q, %q or %q)", how, PromotePlanned, PromoteUnplanned, PromoteRecorded)
}

// parseLSN reads an LSN field: "" is the unset LSN, anything else must be a
// decimal number.
func parseLSN(s string) (artifact.LSN, error) {
	if s == "" {
		return "", nil
	}
	return artifact.ParseLSN(s)
}

// Times are written in UTC as RFC 3339 with as many fractional digits as
// they need, so they round-trip exactly. RFC 3339 gives the year four
// digits, so only years 0000-9999 in UTC can be written: Read refuses a time
// outside them even when its own zone puts it inside
// (0000-01-01T00:00:00+01:00 is in year -1 in UTC), and Write refuses to
// write one, so a file drsctl wrote can always be read back.
func formatTime(t time.Time) (string, error) {
	u := t.UTC()
	if err := checkYear(u); err != nil {
		return "", fmt.Errorf("time %s: %w", t.Format(time.RFC3339Nano), err)
	}
	return u.Format(time.RFC3339Nano), nil
}

func checkYear(u time.Time) error {
	if y := u.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("it is in the year %d in UTC, and the state file holds the years 0000-9999 only", y)
	}
	return nil
}

// timeFormatter formats the time fields of one object and keeps the first
// error, naming the field.
type timeFormatter struct{ err error }

func (f *timeFormatter) time(field string, t time.Time) string {
	s, err := formatTime(t)
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("%s: %w", field, err)
	}
	return s
}

func (f *timeFormatter) optTime(field string, t *time.Time) string {
	if t == nil {
		return ""
	}
	return f.time(field, *t)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing time")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
	}
	t = t.UTC()
	if err := checkYear(t); err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}

func parseOptTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
