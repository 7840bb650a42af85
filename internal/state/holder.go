package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// LockHolder is implemented by the Managers that can say who holds their
// lock without taking it: for a human (drsctl force-unlock without an ID).
type LockHolder interface {
	// Holder returns the lock's holder, or nil when the state is not
	// locked.
	Holder(ctx context.Context) (*LockInfo, error)
}

var (
	_ LockHolder = (*Local)(nil)
	_ LockHolder = (*Remote)(nil)
)

// Holder reads PATH.lock; nil when there is none.
func (l *Local) Holder(ctx context.Context) (*LockInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, _, err := l.readLock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the state lock: %w", err)
	}
	return &info, nil
}
