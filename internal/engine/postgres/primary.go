package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

func (s *session) ObservePrimary(ctx context.Context, databases []string, since time.Time) ([]engine.PrimaryDatabase, error) {
	return nil, errors.New("postgres: ObservePrimary not built yet")
}

func (s *session) Backup(ctx context.Context, req engine.BackupRequest, progress engine.Progress) (artifact.Header, error) {
	return artifact.Header{}, errors.New("postgres: Backup not built yet")
}

func (s *session) Describe(ctx context.Context, serverPath string) (artifact.Header, error) {
	return artifact.Header{}, errors.New("a PostgreSQL server cannot read a backup file: drsctl carries PostgreSQL backups itself")
}
