package state

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version 1 of the state file, frozen: these structs are what a version-1
// file looked like and must never change. upgradeV1 decodes with them, so a
// field that only a later version has is refused in a file that says it is
// version 1.

type fileV1 struct {
	Version   int                       `json:"version"`
	Lineage   string                    `json:"lineage"`
	Serial    uint64                    `json:"serial"`
	Primaries map[string]*filePrimaryV1 `json:"primaries"`
	Targets   map[string]*fileTargetV1  `json:"targets"`
}

type filePrimaryV1 struct {
	Databases map[string]*fileDatabaseV1 `json:"databases"`
}

type fileDatabaseV1 struct {
	RecoveryModel string            `json:"recovery_model"`
	CreatedAt     string            `json:"created_at"`
	Artifacts     []*fileArtifactV1 `json:"artifacts"`
}

type fileArtifactV1 struct {
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
}

type fileTargetV1 struct {
	Databases map[string]*fileTargetDatabaseV1 `json:"databases"`
}

type fileTargetDatabaseV1 struct {
	SeededFrom string                 `json:"seeded_from"`
	Copies     map[string]*fileCopyV1 `json:"copies"`
	Restored   *fileRestoreV1         `json:"restored,omitempty"`
	PromotedAt string                 `json:"promoted_at,omitempty"`
}

type fileCopyV1 struct {
	Key        string `json:"key"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	ShippedAt  string `json:"shipped_at"`
	VerifiedAt string `json:"verified_at,omitempty"`
	ModTime    string `json:"mod_time,omitempty"`
}

type fileRestoreV1 struct {
	Artifact string `json:"artifact"`
	Kind     string `json:"kind"`
	LastLSN  string `json:"last_lsn"`
	Mode     string `json:"mode"`
	At       string `json:"at"`
}

// upgradeV1 rewrites a version-1 file as version 2. Version 2 only added
// optional fields (database identity, artifact new_fork and completed,
// target database seeding), so every version-1 file, re-encoded with its
// version set to 2, is a version-2 file that says nothing about them. The
// file is first decoded strictly with the frozen version-1 structs: one
// that carries a field version 1 did not have is not a version-1 file and
// is refused rather than silently relabelled.
func upgradeV1(raw []byte) ([]byte, error) {
	var f fileV1
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(raw, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("state file version %d is not 1", f.Version)
	}
	f.Version = 2
	out, err := json.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("encode version 2: %w", err)
	}
	return out, nil
}
