package blob

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retries against object stores (both SDKs): a failed call — 500, 502, 503
// (S3's SlowDown, Azure's ServerBusy), 504, throttling, a reset or stalled
// connection — is attempted again after an exponential backoff with jitter,
// or after the server's Retry-After when it gives one, at most five times in
// all. What still fails is returned, and fails only the actions that need
// that destination.
const (
	maxBackoff = 20 * time.Second
	// maxRetryAfter is the longest Retry-After honoured; a server asking for
	// more fails the call at once rather than holding the run.
	maxRetryAfter = time.Minute
)

// retryBase is the first backoff (tests shorten it).
var retryBase = time.Second

// backoff is the wait before retry number attempt (1, 2, …):
// retryBase·2^(attempt-1), at most maxBackoff, with jitter in [½, 1).
func backoff(attempt int) time.Duration {
	d := maxBackoff
	if attempt >= 1 && attempt < 16 {
		d = min(maxBackoff, retryBase<<(attempt-1))
	}
	return d/2 + rand.N(d/2+1)
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}
