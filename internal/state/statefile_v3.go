package state

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version 3 of the state file, frozen: these structs are what a version-3
// file looked like and must never change. upgradeV3 decodes with them, so a
// field that only a later version has is refused in a file that says it is
// version 3.

type fileV3 struct {
	Version   int                       `json:"version"`
	Lineage   string                    `json:"lineage"`
	Serial    uint64                    `json:"serial"`
	Primaries map[string]*filePrimaryV3 `json:"primaries"`
	Targets   map[string]*fileTargetV3  `json:"targets"`
}

type filePrimaryV3 struct {
	Databases map[string]*fileDatabaseV3 `json:"databases"`
}

type fileDatabaseV3 struct {
	RecoveryModel string            `json:"recovery_model"`
	CreatedAt     string            `json:"created_at"`
	Identity      string            `json:"identity,omitempty"`
	Restart       string            `json:"restart,omitempty"`
	Artifacts     []*fileArtifactV3 `json:"artifacts"`
}

type fileArtifactV3 struct {
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
}

type fileTargetV3 struct {
	Databases map[string]*fileTargetDatabaseV3 `json:"databases"`
}

type fileTargetDatabaseV3 struct {
	SeededFrom  string                 `json:"seeded_from"`
	Seeding     string                 `json:"seeding,omitempty"`
	Copies      map[string]*fileCopyV3 `json:"copies"`
	Restored    *fileRestoreV3         `json:"restored,omitempty"`
	PromotedAt  string                 `json:"promoted_at,omitempty"`
	PromotedHow string                 `json:"promoted_how,omitempty"`
	PromotedLSN string                 `json:"promoted_lsn,omitempty"`
	ReprotectAt string                 `json:"reprotect_at,omitempty"`
	LastDrill   *fileDrillV3           `json:"last_drill,omitempty"`
	DrillOKAt   string                 `json:"drill_ok_at,omitempty"`
}

type fileDrillV3 struct {
	At         string `json:"at"`
	DurationMS int64  `json:"duration_ms"`
	Artifact   string `json:"artifact"`
	Through    string `json:"through"`
	StopAt     string `json:"stop_at,omitempty"`
	OK         bool   `json:"ok"`
	Check      string `json:"check,omitempty"`
	Error      string `json:"error,omitempty"`
}

type fileCopyV3 struct {
	Key        string `json:"key"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	ShippedAt  string `json:"shipped_at"`
	VerifiedAt string `json:"verified_at,omitempty"`
	ModTime    string `json:"mod_time,omitempty"`
}

type fileRestoreV3 struct {
	Artifact string `json:"artifact"`
	Kind     string `json:"kind"`
	LastLSN  string `json:"last_lsn"`
	Mode     string `json:"mode"`
	At       string `json:"at"`
}

// upgradeV3 rewrites a version-3 file as version 4. Version 4 only added
// the stripes of an artifact striped across several files (optional: an
// artifact without them is one file, as every artifact of a version-3 file
// is), so every version-3 file, re-encoded with its version set to 4, is a
// version-4 file whose artifacts are each one file.
func upgradeV3(raw []byte) ([]byte, error) {
	var f fileV3
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(raw, err)
	}
	if f.Version != 3 {
		return nil, fmt.Errorf("state file version %d is not 3", f.Version)
	}
	f.Version = 4
	out, err := json.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("encode version 4: %w", err)
	}
	return out, nil
}
