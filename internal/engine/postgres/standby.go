package postgres

import (
	"context"
	"errors"

	"github.com/drsctl/drsctl/internal/engine"
)

func (s *session) ObserveStandby(ctx context.Context, databases []string) ([]engine.StandbyDatabase, error) {
	return nil, errors.New("postgres: ObserveStandby not built yet")
}

func (s *session) Restore(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	return errors.New("postgres: Restore not built yet")
}

func (s *session) Recover(ctx context.Context, req engine.RecoverRequest) error {
	return errors.New("postgres: Recover not built yet")
}
