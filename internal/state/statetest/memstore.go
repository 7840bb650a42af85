package statetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/drsctl/drsctl/internal/state"
)

// MemStore is a state.ObjectStore in memory, with the semantics of a
// strongly consistent object store (S3, Azure Blob): atomic conditional
// creates, list after write.
type MemStore struct {
	mu   sync.Mutex
	objs map[string][]byte
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{objs: map[string][]byte{}} }

func (m *MemStore) Create(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[name]; ok {
		return fmt.Errorf("create %s: %w", name, fs.ErrExist)
	}
	m.objs[name] = slices.Clone(data)
	return nil
}

func (m *MemStore) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.objs[name]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", name, fs.ErrNotExist)
	}
	return slices.Clone(raw), nil
}

func (m *MemStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n := range m.objs {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *MemStore) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, name)
	return nil
}

func (m *MemStore) Describe() string { return "mem://state" }

// Put overwrites name (for tests that damage the store).
func (m *MemStore) Put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[name] = slices.Clone(data)
}

// Names lists every object.
func (m *MemStore) Names() []string {
	names, _ := m.List(context.Background(), "")
	return names
}

// ErrCut is what a Cuttable store returns while cut.
var ErrCut = errors.New("statetest: this run's connection to the store is cut")

// Cuttable wraps a store so that one run's access can fail: Cut(true) makes
// every call fail (the run died, or its network is down), Cut(false)
// restores it. Fault, when set, is called before every call (op is
// "create", "get", "list" or "delete") and fails it with its error; After
// is called after a call succeeded and, returning an error, makes it look
// failed (a reply lost after the store did the work).
type Cuttable struct {
	Store state.ObjectStore
	cut   atomic.Bool
	Fault func(op, name string) error
	After func(op, name string) error
}

// Cut cuts (true) or restores (false) the wrapped store.
func (c *Cuttable) Cut(on bool) { c.cut.Store(on) }

func (c *Cuttable) before(op, name string) error {
	if c.cut.Load() {
		return fmt.Errorf("%s %s: %w", op, name, ErrCut)
	}
	if c.Fault != nil {
		return c.Fault(op, name)
	}
	return nil
}

func (c *Cuttable) after(op, name string, err error) error {
	if err == nil && c.After != nil {
		return c.After(op, name)
	}
	return err
}

func (c *Cuttable) Create(ctx context.Context, name string, data []byte) error {
	if err := c.before("create", name); err != nil {
		return err
	}
	return c.after("create", name, c.Store.Create(ctx, name, data))
}

func (c *Cuttable) Get(ctx context.Context, name string) ([]byte, error) {
	if err := c.before("get", name); err != nil {
		return nil, err
	}
	raw, err := c.Store.Get(ctx, name)
	return raw, c.after("get", name, err)
}

func (c *Cuttable) List(ctx context.Context, prefix string) ([]string, error) {
	if err := c.before("list", prefix); err != nil {
		return nil, err
	}
	names, err := c.Store.List(ctx, prefix)
	return names, c.after("list", prefix, err)
}

func (c *Cuttable) Delete(ctx context.Context, name string) error {
	if err := c.before("delete", name); err != nil {
		return err
	}
	return c.after("delete", name, c.Store.Delete(ctx, name))
}

func (c *Cuttable) Describe() string { return c.Store.Describe() }
