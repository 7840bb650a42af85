package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// warnings collects Warnf calls.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Warnf(format string, a ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, fmt.Sprintf(format, a...))
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

// fakeClock is a LocalOptions.Now that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestLocal(path string, opts LocalOptions) *Local {
	l := NewLocal(path, opts)
	l.pollMin, l.pollMax = time.Millisecond, 5*time.Millisecond
	return l
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// leftovers lists the files in dir that are neither the state nor its
// backup or lock.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		switch e.Name() {
		case "drs.state", "drs.state.backup", "drs.state.lock":
		default:
			out = append(out, e.Name())
		}
	}
	return out
}

func TestLocal_Read_none(t *testing.T) {
	l := NewLocal(filepath.Join(t.TempDir(), "drs.state"), LocalOptions{})
	s, err := l.Read(context.Background())
	if s != nil || err != nil {
		t.Errorf("Read = %v, %v; want nil, nil", s, err)
	}
}

func TestLocal_Write(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "drs.state")
	l := NewLocal(path, LocalOptions{})

	s := fullState()
	s.Serial = 0
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 1 {
		t.Errorf("first write: serial %d, want 1", s.Serial)
	}
	// The first snapshot is its own backup (the way back, with the
	// journal, if the state file is removed).
	if got := readFile(t, path+".backup"); !bytes.Equal(got, readFile(t, path)) {
		t.Errorf("first write: the backup is not the first snapshot")
	}
	first := readFile(t, path)

	s.Database("sales", "Sales").RecoveryModel = "BULK_LOGGED"
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 2 {
		t.Errorf("second write: serial %d, want 2", s.Serial)
	}
	if got := readFile(t, path+".backup"); !bytes.Equal(got, first) {
		t.Errorf("backup does not hold the previous state:\n%s", got)
	}
	for _, p := range []string{path, path + ".backup"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	got, err := l.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got, ignoreTrack); diff != "" {
		t.Errorf("Read after Write (-want +got):\n%s", diff)
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
}

// A mistyped -state (a directory that does not exist) is an error that
// names the directory, not a new directory somewhere unexpected.
func TestLocal_Write_newDirectory(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "drs.state")
	err := NewLocal(path, LocalOptions{}).Write(context.Background(), New(NewLineage()))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "a", "b")+" does not exist") {
		t.Fatalf("Write = %v, want an error saying the directory does not exist", err)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed write created a directory (%v)", err)
	}
}

func TestLocal_Write_conflict(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (path string, m1, m2 *Local) {
		path = filepath.Join(t.TempDir(), "drs.state")
		m1, m2 = NewLocal(path, LocalOptions{}), NewLocal(path, LocalOptions{})
		if err := m1.Write(ctx, New("lineage-a")); err != nil {
			t.Fatal(err)
		}
		return path, m1, m2
	}
	check := func(t *testing.T, path string, before []byte, err error, want string) {
		t.Helper()
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
		if after := readFile(t, path); !bytes.Equal(before, after) {
			t.Errorf("refused write changed the state file")
		}
	}

	t.Run("another writer bumped the serial", func(t *testing.T) {
		path, m1, m2 := setup(t)
		s1, _ := m1.Read(ctx)
		s2, _ := m2.Read(ctx)
		if err := m1.Write(ctx, s1); err != nil {
			t.Fatal(err)
		}
		before := readFile(t, path)
		err := m2.Write(ctx, s2)
		check(t, path, before, err, "is at serial 2 but this run read serial 1")
		if s2.Serial != 1 {
			t.Errorf("refused write changed s.Serial to %d", s2.Serial)
		}
	})
	t.Run("another lineage", func(t *testing.T) {
		path, _, m2 := setup(t)
		other := New("lineage-b")
		other.Serial = 1
		before := readFile(t, path)
		err := m2.Write(ctx, other)
		check(t, path, before, err, "state lineage lineage-b does not match lineage-a: this plan/state belongs to another ledger")
	})
	t.Run("a new state over an existing one", func(t *testing.T) {
		path, _, m2 := setup(t)
		before := readFile(t, path)
		err := m2.Write(ctx, New("lineage-a"))
		check(t, path, before, err, "is at serial 1 but this run read serial 0")
	})
	t.Run("the state was removed", func(t *testing.T) {
		path, m1, _ := setup(t)
		s, _ := m1.Read(ctx)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		err := m1.Write(ctx, s)
		if err == nil || !strings.Contains(err.Error(), "is missing") || !strings.Contains(err.Error(), "drsctl state restore-backup") {
			t.Errorf("err = %v, want the missing state file and the way back named", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused write created the state file")
		}
	})
}

func TestLocal_Write_failure(t *testing.T) {
	ctx := context.Background()
	steps := map[string][]string{"drs.state": {"create", "write", "sync", "close", "rename"}, "drs.state.backup": {"backup"}}
	for _, file := range []string{"drs.state", "drs.state.backup"} {
		for _, step := range steps[file] {
			t.Run(file+"/"+step, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "drs.state")
				l := NewLocal(path, LocalOptions{})
				s := New(NewLineage())
				if err := l.Write(ctx, s); err != nil { // serial 1
					t.Fatal(err)
				}
				if err := l.Write(ctx, s); err != nil { // serial 2, backup at 1
					t.Fatal(err)
				}
				state, backup := readFile(t, path), readFile(t, path+".backup")

				injected := errors.New("injected failure")
				l.failpoint = func(st, f string) error {
					if st == step && filepath.Base(f) == file {
						return injected
					}
					return nil
				}
				err := l.Write(ctx, s)
				if !errors.Is(err, injected) {
					t.Fatalf("Write err = %v, want the injected failure", err)
				}
				if s.Serial != 2 {
					t.Errorf("failed write changed s.Serial to %d", s.Serial)
				}
				if got := readFile(t, path); !bytes.Equal(got, state) {
					t.Errorf("failed write changed the state file")
				}
				if file == "drs.state.backup" {
					if got := readFile(t, path+".backup"); !bytes.Equal(got, backup) {
						t.Errorf("failed backup write changed the backup")
					}
				}
				if left := leftovers(t, dir); len(left) > 0 {
					t.Errorf("failed write left files behind: %v", left)
				}

				l.failpoint = nil
				if err := l.Write(ctx, s); err != nil || s.Serial != 3 {
					t.Errorf("write after the failure: serial %d, err %v", s.Serial, err)
				}
			})
		}
	}
}

// A crash (simulated by a panic, so no cleanup runs) at any step leaves the
// old or the new state under PATH, never a partial one.
func TestLocal_Write_crash(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{"create", "write", "sync", "close", "rename"} {
		t.Run(step, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "drs.state")
			l := NewLocal(path, LocalOptions{})
			s := New(NewLineage())
			if err := l.Write(ctx, s); err != nil {
				t.Fatal(err)
			}
			l.failpoint = func(st, f string) error {
				if st == step && f == path {
					panic("crash")
				}
				return nil
			}
			func() {
				defer func() { recover() }()
				l.Write(ctx, s.Clone())
			}()
			l.failpoint = nil
			got, err := l.Read(ctx)
			if err != nil {
				t.Fatalf("state after a crash at %s: %v", step, err)
			}
			if got.Serial != 1 {
				t.Errorf("state after a crash before the rename has serial %d, want 1", got.Serial)
			}
		})
	}
}

func TestLocal_badStateFiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range badFixtures {
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) {
			raw := readFile(t, filepath.Join("testdata", tc.file))
			dir := t.TempDir()
			path := filepath.Join(dir, "drs.state")
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			l := NewLocal(path, LocalOptions{})
			s, err := l.Read(ctx)
			if err == nil {
				t.Fatalf("Read succeeded: %+v", s)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want[0]) {
				t.Errorf("error %q should name %s and say %q", err, path, tc.want[0])
			}
			// Nor does a write replace a state it cannot read.
			err = l.Write(ctx, New(NewLineage()))
			if err == nil || !strings.Contains(err.Error(), "cannot be read") {
				t.Errorf("Write over an unreadable state: err = %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, raw) {
				t.Errorf("the state file changed")
			}
			if left := leftovers(t, dir); len(left) > 0 {
				t.Errorf("files left behind: %v", left)
			}
		})
	}
}

func TestLocal_Describe(t *testing.T) {
	if got := NewLocal("/x/drs.state", LocalOptions{}).Describe(); got != "/x/drs.state" {
		t.Errorf("Describe = %q", got)
	}
}

func TestNewLineage(t *testing.T) {
	a, b := NewLineage(), NewLineage()
	if a == b || len(a) != 36 || a[14] != '4' {
		t.Errorf("NewLineage gave %q and %q; want distinct UUIDv4s", a, b)
	}
}
