package blob

import (
	"testing"
	"time"
)

// SetRetryBase shortens the first retry backoff for t (buckets opened
// afterwards), so tests of retries do not wait seconds per attempt.
func SetRetryBase(t testing.TB, d time.Duration) {
	old := retryBase
	retryBase = d
	t.Cleanup(func() { retryBase = old })
}

var (
	ParseRetryAfter = parseRetryAfter
	Backoff         = backoff
)
