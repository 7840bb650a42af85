package state

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version 2 of the state file, frozen: these structs are what a version-2
// file looked like and must never change. upgradeV2 decodes with them, so a
// field that only a later version has is refused in a file that says it is
// version 2.

type fileV2 struct {
	Version   int                       `json:"version"`
	Lineage   string                    `json:"lineage"`
	Serial    uint64                    `json:"serial"`
	Primaries map[string]*filePrimaryV2 `json:"primaries"`
	Targets   map[string]*fileTargetV2  `json:"targets"`
}

type filePrimaryV2 struct {
	Databases map[string]*fileDatabaseV2 `json:"databases"`
}

type fileDatabaseV2 struct {
	RecoveryModel string            `json:"recovery_model"`
	CreatedAt     string            `json:"created_at"`
	Identity      string            `json:"identity,omitempty"`
	Restart       string            `json:"restart,omitempty"`
	Artifacts     []*fileArtifactV2 `json:"artifacts"`
}

type fileArtifactV2 struct {
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

type fileTargetV2 struct {
	Databases map[string]*fileTargetDatabaseV2 `json:"databases"`
}

type fileTargetDatabaseV2 struct {
	SeededFrom string                 `json:"seeded_from"`
	Seeding    string                 `json:"seeding,omitempty"`
	Copies     map[string]*fileCopyV2 `json:"copies"`
	Restored   *fileRestoreV2         `json:"restored,omitempty"`
	PromotedAt string                 `json:"promoted_at,omitempty"`
}

type fileCopyV2 struct {
	Key        string `json:"key"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	ShippedAt  string `json:"shipped_at"`
	VerifiedAt string `json:"verified_at,omitempty"`
	ModTime    string `json:"mod_time,omitempty"`
}

type fileRestoreV2 struct {
	Artifact string `json:"artifact"`
	Kind     string `json:"kind"`
	LastLSN  string `json:"last_lsn"`
	Mode     string `json:"mode"`
	At       string `json:"at"`
}

// upgradeV2 rewrites a version-2 file as version 3. Version 3 only added
// optional fields (how and where a target database was promoted, a
// reprotect request, drills), so every version-2 file, re-encoded with its
// version set to 3, is a version-3 file that says nothing about them.
func upgradeV2(raw []byte) ([]byte, error) {
	var f fileV2
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(raw, err)
	}
	if f.Version != 2 {
		return nil, fmt.Errorf("state file version %d is not 2", f.Version)
	}
	f.Version = 3
	out, err := json.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("encode version 3: %w", err)
	}
	return out, nil
}
