package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEachDatabase_OrderAndBound: answers come back in the order asked,
// with several databases asked at once but never more than
// observeConcurrency.
func TestEachDatabase_OrderAndBound(t *testing.T) {
	var names []string
	for i := 0; i < 40; i++ {
		names = append(names, fmt.Sprintf("db%02d", i))
	}
	var inFlight, most atomic.Int32
	out, failed, err := eachDatabase(context.Background(), names, func(ctx context.Context, name string) (string, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		return "answer " + name, nil
	})
	if err != nil || failed != -1 {
		t.Fatalf("eachDatabase: %d, %v", failed, err)
	}
	for i, name := range names {
		if out[i] != "answer "+name {
			t.Fatalf("answer %d = %q, want %q", i, out[i], "answer "+name)
		}
	}
	if m := most.Load(); m < 2 || m > observeConcurrency {
		t.Errorf("at most %d in flight, want 2..%d", m, observeConcurrency)
	}
}

// TestEachDatabase_FirstErrorInOrder: when a later database fails first,
// the error is still the first database's in the order asked, its own
// (not a cancellation), as when they were asked one after another; once
// one has failed no further database is started.
func TestEachDatabase_FirstErrorInOrder(t *testing.T) {
	var names []string
	for i := 0; i < 100; i++ {
		names = append(names, fmt.Sprintf("db%02d", i))
	}
	errFirst, errLater := errors.New("db00 refused"), errors.New("db02 refused")
	laterFailed := make(chan struct{})
	release := make(chan struct{})
	var started atomic.Int32
	var once sync.Once
	_, failed, err := eachDatabase(context.Background(), names, func(ctx context.Context, name string) (int, error) {
		started.Add(1)
		switch name {
		case "db00":
			<-laterFailed
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, errFirst
		case "db02":
			defer once.Do(func() {
				close(laterFailed)
				go func() { time.Sleep(200 * time.Millisecond); close(release) }()
			})
			return 0, errLater
		}
		<-release
		return 1, nil
	})
	if failed != 0 || !errors.Is(err, errFirst) {
		t.Errorf("eachDatabase failed at %d with %v, want 0 and %v", failed, err, errFirst)
	}
	if n := started.Load(); n != observeConcurrency {
		t.Errorf("%d databases started, want %d (none after the failure)", n, observeConcurrency)
	}
}
