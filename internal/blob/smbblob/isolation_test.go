package smbblob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"
	"gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/blob/blobtest"
)

// One transfer that aborts must never break or corrupt another. These tests
// run a healthy transfer and an aborting one side by side, many times, and
// check the healthy one's SHA-256 under its final name.

var pairRounds = flag.Int("smb.pairs", 2, "rounds of each abort kind in the SMB transfer-isolation tests")

// abortKind is how the failing transfer of a pair fails.
type abortKind int

const (
	abortCancel      abortKind = iota // its context is cancelled mid-way (Ctrl-C)
	abortSourceError                  // its source fails mid-way
	abortMismatch                     // its source does not have the SHA-256 expected
)

func (k abortKind) String() string {
	return [...]string{"cancel", "source-error", "checksum-mismatch"}[k]
}

var errSourceFailed = errors.New("injected source failure")

// tap reads r and, once at bytes have been read, closes reached, calls do and
// then fails with err when set.
type tap struct {
	r       io.Reader
	at, n   int64
	reached chan struct{}
	do      func()
	err     error
	fired   bool
}

func (t *tap) Read(p []byte) (int, error) {
	if !t.fired && t.n >= t.at {
		t.fired = true
		if t.reached != nil {
			close(t.reached)
		}
		if t.do != nil {
			t.do()
		}
	}
	if t.fired && t.err != nil {
		return 0, t.err
	}
	if !t.fired && t.n+int64(len(p)) > t.at {
		p = p[:t.at-t.n]
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	return n, err
}

func sum(seed uint64, n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, blobtest.Data(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

const pairSize = 16 << 20

// runPair ships a healthy transfer and, side by side on the same bucket, one
// that fails as kind says once the healthy one is a quarter through. The
// healthy one must commit exactly its own bytes; the failing one nothing, and
// no temporary file may be left.
func runPair(t *testing.T, b *blob.Bucket, srv *server, dir string, kind abortKind, round int) {
	t.Helper()
	ctx := context.Background()
	goodKey := fmt.Sprintf("%s/%d/good.bak", kind, round)
	badKey := fmt.Sprintf("%s/%d/bad.bak", kind, round)
	goodSeed, badSeed := uint64(1000+round), uint64(2000+round)
	want := sum(goodSeed, pairSize)

	goodQuarter := make(chan struct{})
	goodSrc := &tap{r: blobtest.Data(goodSeed, pairSize), at: pairSize / 4, reached: goodQuarter}
	badCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	bad := dblob.Sink{Bucket: b, Key: badKey, PartSize: 4 << 20, Concurrency: 4}
	badSrc := &tap{r: blobtest.Data(badSeed, pairSize), at: pairSize / 2, do: func() { <-goodQuarter }}
	switch kind {
	case abortCancel:
		badSrc.do = func() { <-goodQuarter; cancel() }
	case abortSourceError:
		badSrc.err = errSourceFailed
	case abortMismatch:
		badSrc.at = pairSize // the digest is known at the end
		bad.ExpectSHA256 = strings.Repeat("0", 64)
	}

	var wg sync.WaitGroup
	var goodSum, badSum string
	var goodRes, badRes []dblob.Result
	var goodErr, badErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, goodSum, goodRes, goodErr = dblob.Ship(ctx, goodSrc, []dblob.Sink{{Bucket: b, Key: goodKey, PartSize: 4 << 20, Concurrency: 4}}, nil)
	}()
	go func() {
		defer wg.Done()
		_, badSum, badRes, badErr = dblob.Ship(badCtx, badSrc, []dblob.Sink{bad}, nil)
	}()
	wg.Wait()

	if goodErr != nil || goodRes[0].Err != nil {
		t.Fatalf("%s round %d: healthy transfer failed: %v, %v", kind, round, goodErr, goodRes[0].Err)
	}
	if goodSum != want || goodRes[0].SHA256 != want {
		t.Fatalf("%s round %d: healthy transfer read %s, committed %s; want %s", kind, round, goodSum, goodRes[0].SHA256, want)
	}
	size, got, err := dblob.Checksum(ctx, b, goodKey)
	if err != nil {
		t.Fatalf("%s round %d: Checksum(%s): %v", kind, round, goodKey, err)
	}
	if size != pairSize || got != want {
		t.Fatalf("%s round %d: %s holds %d bytes, sha256 %s; want %d bytes, %s (another transfer's abort corrupted it)",
			kind, round, goodKey, size, got, pairSize, want)
	}

	switch kind {
	case abortCancel:
		if !errors.Is(badErr, context.Canceled) {
			t.Errorf("%s round %d: failing transfer: %v, want context.Canceled", kind, round, badErr)
		}
	case abortSourceError:
		if !errors.Is(badErr, errSourceFailed) {
			t.Errorf("%s round %d: failing transfer: %v, want the source's error", kind, round, badErr)
		}
	case abortMismatch:
		if badErr != nil || !errors.Is(badRes[0].Err, dblob.ErrChecksumMismatch) {
			t.Errorf("%s round %d: failing transfer: %v, %v (sum %s), want ErrChecksumMismatch", kind, round, badErr, badRes[0].Err, badSum)
		}
	}
	if badRes[0].Err == nil {
		t.Errorf("%s round %d: failing transfer reports success", kind, round)
	}
	if ok, err := b.Exists(ctx, badKey); ok || err != nil {
		t.Errorf("%s round %d: failing transfer left %s: exists %v, %v", kind, round, badKey, ok, err)
	}
	// Nothing else in the directory: no temporary file left behind.
	var names []string
	err = srv.do(ctx, func(share *smb2.Share) error {
		fis, err := share.ReadDir(dir + `\` + kind.String() + `\` + fmt.Sprint(round))
		names = names[:0]
		for _, fi := range fis {
			names = append(names, fi.Name())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "good.bak" {
		t.Errorf("%s round %d: directory holds %q, want only good.bak", kind, round, names)
	}
	if err := b.Delete(ctx, goodKey); err != nil {
		t.Error(err)
	}
}

// privateBucket opens a bucket on a pool of its own (not shared with other
// tests), allowing at most maxSess sessions.
func privateBucket(t *testing.T, opts Options, maxSess int) (*blob.Bucket, *server, string) {
	t.Helper()
	opts.Dir = uniqueDir("isolation")
	drv, err := openBucket(opts)
	if err != nil {
		t.Fatal(err)
	}
	drv.srv.release() // the shared pool's reference, unused
	srv := &server{key: drv.srv.key, password: opts.Password, refs: 1, maxSessions: maxSess}
	drv.srv = srv
	b := blob.NewBucket(drv)
	t.Cleanup(func() {
		_ = b.Close()
		srv.mu.Lock()
		ss := srv.sessions
		srv.sessions = nil
		srv.mu.Unlock()
		for _, s := range ss {
			s.close()
		}
	})
	return b, srv, opts.Dir
}

// The sessions open in srv, and how many leases each has.
func sessionsOf(srv *server) ([]*session, []int) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	users := make([]int, len(srv.sessions))
	for i, s := range srv.sessions {
		users[i] = s.users
	}
	return append([]*session(nil), srv.sessions...), users
}

// Two transfers on ONE session (the pool allows one, so they share it), one
// aborting mid-way: the other commits its own bytes, and the session stays
// up (no redial: nothing broke it).
func TestSharedSession_AbortDoesNotBreakOrCorruptTheOther(t *testing.T) {
	b, srv, dir := privateBucket(t, serverOptions(t), 1)
	ctx := context.Background()
	if err := b.WriteAll(ctx, "warm-up", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	before, _ := sessionsOf(srv)
	if len(before) != 1 {
		t.Fatalf("%d sessions, want 1", len(before))
	}
	for round := 0; round < *pairRounds; round++ {
		for _, kind := range []abortKind{abortCancel, abortSourceError, abortMismatch} {
			runPair(t, b, srv, dir, kind, round)
			after, users := sessionsOf(srv)
			if len(after) != 1 || after[0] != before[0] {
				t.Fatalf("%s round %d: the shared session was replaced (%d sessions now): the abort broke it", kind, round, len(after))
			}
			if users[0] != 0 {
				t.Fatalf("%s round %d: session still leased %d times after both transfers", kind, round, users[0])
			}
		}
	}
}

// With the default pool each transfer leases a session of its own; the same
// pairs, and every session is given back.
func TestPool_AbortDoesNotBreakOrCorruptTheOther(t *testing.T) {
	b, srv, dir := privateBucket(t, serverOptions(t), 0)
	for round := 0; round < *pairRounds; round++ {
		for _, kind := range []abortKind{abortCancel, abortSourceError, abortMismatch} {
			runPair(t, b, srv, dir, kind, round)
		}
	}
	ss, users := sessionsOf(srv)
	if len(ss) < 1 || len(ss) > maxIdle+1 {
		t.Errorf("%d sessions left open, want 1 to %d", len(ss), maxIdle+1)
	}
	for i, u := range users {
		if u != 0 {
			t.Errorf("session %d still leased %d times", i, u)
		}
	}
}

// Concurrent writers get sessions of their own up to the limit, then share.
func TestPool_LeasesUpToTheLimitThenShares(t *testing.T) {
	_, srv, _ := privateBucket(t, serverOptions(t), 2)
	ctx := context.Background()
	var leased []*session
	for range 5 {
		s, err := srv.lease(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leased = append(leased, s)
	}
	ss, users := sessionsOf(srv)
	if len(ss) != 2 || users[0]+users[1] != 5 || users[0] < 2 || users[1] < 2 {
		t.Errorf("%d sessions with %v leases, want 2 sharing 5 evenly", len(ss), users)
	}
	if leased[0] == leased[1] {
		t.Error("the first two leases share a session while the limit allows two")
	}
	for _, s := range leased {
		srv.put(s, nil)
	}
	// A connection error retires the session; the next lease dials anew.
	s, err := srv.lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.put(s, &smb2.TransportError{Err: io.ErrUnexpectedEOF})
	for _, o := range func() []*session { ss, _ := sessionsOf(srv); return ss }() {
		if o == s {
			t.Error("a session that saw a connection error is still in the pool")
		}
	}
}

// A server that stops answering mid-transfer: cancelling the transfer ends it
// within abandonGrace (the connection is closed under the hung requests),
// without waiting for the server, and the next operation redials.
func TestHungServer_CancelReturnsWithinGrace(t *testing.T) {
	opts := serverOptions(t)
	p := startProxy(t, opts.Addr)
	opts.Addr = p.addr()
	defer func(g time.Duration) { abandonGrace = g }(abandonGrace)
	abandonGrace = 300 * time.Millisecond

	b, srv, dir := privateBucket(t, opts, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := b.NewWriter(ctx, "hung/x.bak", &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: 1 << 20, MaxConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, blobtest.Data(9, 8<<20), 8<<20); err != nil {
		t.Fatal(err)
	}
	p.pause(true) // the server hears nothing more
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(w, blobtest.Data(10, 8<<20), 8<<20)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // requests now hang
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Close after cancel = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > abandonGrace+5*time.Second {
			t.Errorf("took %v after cancel", d)
		}
	case <-time.After(abandonGrace + 20*time.Second):
		t.Fatal("a cancelled transfer to a hung server did not return")
	}
	p.pause(false)
	ss, _ := sessionsOf(srv)
	if len(ss) != 0 {
		t.Errorf("%d sessions in the pool, want the hung one retired", len(ss))
	}
	// The bucket works again on a new connection.
	if err := b.WriteAll(context.Background(), "hung/y", []byte("y"), nil); err != nil {
		t.Fatalf("after the hang: %v", err)
	}
	if ok, _ := b.Exists(context.Background(), "hung/x.bak"); ok {
		t.Error("the abandoned transfer is visible under its key")
	}
	_ = b.Delete(context.Background(), "hung/y")
	// The abandoned temporary file stays (the server could not be asked to
	// remove it): remove it now, once the server has closed the handle of the
	// connection that was dropped.
	for try := 0; try < 50; try++ {
		var left []string
		_ = srv.do(context.Background(), func(share *smb2.Share) error {
			fis, err := share.ReadDir(dir + `\hung`)
			for _, fi := range fis {
				if err := share.Remove(dir + `\hung\` + fi.Name()); err != nil {
					left = append(left, fi.Name())
				}
			}
			if err == nil && len(left) == 0 {
				err = share.Remove(dir + `\hung`)
			}
			return err
		})
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proxy forwards TCP connections to target; pause(true) stops forwarding
// what clients send, as a server that hangs.
type proxy struct {
	ln     net.Listener
	paused atomic.Bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go func() { // client → server, stalled while paused
				defer s.Close()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					for n > 0 && p.paused.Load() {
						time.Sleep(10 * time.Millisecond)
					}
					if n > 0 {
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // server → client
				defer c.Close()
				defer s.Close()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	return p
}

func (p *proxy) addr() string  { return p.ln.Addr().String() }
func (p *proxy) pause(on bool) { p.paused.Store(on) }
