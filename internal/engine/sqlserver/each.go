package sqlserver

import (
	"context"
	"sync"
)

// observeConcurrency bounds the per-database questions one observation
// keeps in flight on a server. An observation asks a few short queries per
// database; one database after another, 100 databases cost hundreds of
// round trips end to end, which a server across a WAN link turns into
// seconds or minutes. The session's pool keeps as many connections idle
// (Open), so that the next observation does not log in again.
const observeConcurrency = 8

// eachDatabase runs f for every name, at most observeConcurrency at a time
// over the session's pool, and returns the answers in the order asked.
// When f fails, the error is that of the first database in the order
// asked, as when they ran one after another, and failed is its index (the
// answers before it are complete): once one fails, no further database is
// started, and those already started finish undisturbed (cancelling them
// would turn an earlier database's own answer, or its own error, into a
// cancellation).
func eachDatabase[T any](ctx context.Context, names []string, f func(ctx context.Context, name string) (T, error)) (out []T, failed int, err error) {
	out = make([]T, len(names))
	errs := make([]error, len(names))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	sem := make(chan struct{}, observeConcurrency)
	for i, name := range names {
		sem <- struct{}{}
		mu.Lock()
		stop := stopped
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := f(ctx, name)
			out[i], errs[i] = v, err
			if err != nil {
				mu.Lock()
				stopped = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out, i, err
		}
	}
	return out, -1, nil
}
