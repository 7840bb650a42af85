package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// MarkerFile, in drsctl's area beside a standby's data directory, says the
// cluster is drsctl's and holds its restore history: PostgreSQL keeps none
// (there is no msdb), and a standby drsctl did not build is never touched.
const MarkerFile = "standby.json"

// marker is standby.json.
type marker struct {
	Version int    `json:"version"`
	DataDir string `json:"data_dir"`
	// Seeding is set before a base backup is unpacked and cleared once the
	// standby is built: still set, the seed was interrupted.
	Seeding *seeding `json:"seeding,omitempty"`
	// Seed is the full the standby was built from; Last the newest restore.
	Seed *restoreEntry `json:"seed,omitempty"`
	Last *restoreEntry `json:"last,omitempty"`
	// SystemID and SegmentSize are the cluster's (pg_controldata).
	SystemID    string `json:"system_id,omitempty"`
	SegmentSize uint64 `json:"wal_segment_size,omitempty"`
	// Timeline is the seed's: the standby follows that one.
	Timeline uint32 `json:"timeline,omitempty"`
	// ConsistentAt is the seed's end: the standby accepts connections once
	// it replayed WAL up to it.
	ConsistentAt artifact.LSN `json:"consistent_at,omitempty"`
	// Next is where the WAL the standby still needs begins: the segment
	// holding the seed's redo point, then each log's end.
	Next artifact.LSN `json:"next,omitempty"`
	// ReplayLSN is pg_last_wal_replay_lsn() when the last log restore was
	// confirmed.
	ReplayLSN artifact.LSN `json:"replay_lsn,omitempty"`
	Promoted  *time.Time   `json:"promoted,omitempty"`
}

type seeding struct {
	From string    `json:"from"`
	At   time.Time `json:"at"`
}

type restoreEntry struct {
	At       time.Time     `json:"at"`
	Kind     artifact.Kind `json:"kind"`
	FirstLSN artifact.LSN  `json:"first_lsn"`
	LastLSN  artifact.LSN  `json:"last_lsn"`
	Path     string        `json:"path,omitempty"`
	Family   string        `json:"family,omitempty"`
}

func (e *restoreEntry) record() *engine.RestoreRecord {
	if e == nil {
		return nil
	}
	return &engine.RestoreRecord{At: e.At, Kind: e.Kind, FirstLSN: e.FirstLSN, LastLSN: e.LastLSN, Path: e.Path, FamilyGUID: e.Family}
}

// readMarker returns the marker, or nil when there is none.
func (s *session) readMarker() (*marker, error) {
	p := filepath.Join(s.sidecar(), MarkerFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading drsctl's standby record %s: %w", p, err)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("drsctl's standby record %s is damaged (%v): if the standby is drsctl's, seed it again after removing the data directory's contents and this file", p, err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("drsctl's standby record %s has version %d; this drsctl understands version 1", p, m.Version)
	}
	return &m, nil
}

// writeMarker stores the marker atomically.
func (s *session) writeMarker(m *marker) error {
	m.Version = 1
	m.DataDir = s.site.DataDir
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.sidecar(), 0o700); err != nil {
		return fmt.Errorf("creating drsctl's area %s: %w", s.sidecar(), err)
	}
	p := filepath.Join(s.sidecar(), MarkerFile)
	if err := writeFileAtomic(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing drsctl's standby record %s: %w", p, err)
	}
	return nil
}
