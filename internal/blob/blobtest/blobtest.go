// Package blobtest is drsctl's conformance suite for destinations: the same
// tests run against every kind of bucket drsctl ships to (file://, smb://,
// s3://, azblob://), through drsctl's own API — Open, Ship, Checksum,
// IsNotExist — rather than gocloud.dev's (which drivertest covers).
package blobtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	dblob "github.com/drsctl/drsctl/internal/blob"
)

// Backend describes one kind of bucket to the suite. Abilities are data:
// the suite skips only what a backend says it cannot do.
type Backend struct {
	Name string
	// NewBucket returns an empty bucket of the backend that no other test
	// uses (a new S3 bucket, Azure container, directory…), cleaned up by t.
	NewBucket func(t *testing.T) *blob.Bucket
	// ConditionalCreate is true when WriterOptions.IfNotExist is atomic
	// (usable for locks): S3 and Azure, not fileblob or SMB.
	ConditionalCreate bool
	// Metadata is true when the backend stores object metadata.
	Metadata bool
	// Unreachable, when set, returns a bucket of this kind whose server does
	// not answer (a stopped endpoint).
	Unreachable func(t *testing.T) *blob.Bucket
}

// PartSize is the part size the suite ships with: S3's minimum, so that
// BigSize takes several parts.
const (
	PartSize = 5 << 20
	BigSize  = 40 << 20
)

// Run runs the suite against be.
func Run(t *testing.T, be Backend) {
	t.Run("ShipOneSink", func(t *testing.T) { testShipOneSink(t, be) })
	t.Run("ShipThreeSinks", func(t *testing.T) { testShipThreeSinks(t, be) })
	t.Run("ListStatDelete", func(t *testing.T) { testListStatDelete(t, be) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, be) })
	t.Run("CancelMidUpload", func(t *testing.T) { testCancelMidUpload(t, be) })
	t.Run("ChecksumMismatch", func(t *testing.T) { testChecksumMismatch(t, be) })
	t.Run("ConditionalCreate", func(t *testing.T) { testConditionalCreate(t, be) })
	t.Run("FailingSink", func(t *testing.T) { testFailingSink(t, be) })
}

// digest is the size and hex SHA-256 of Data(seed, n).
func digest(t *testing.T, seed uint64, n int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, Data(seed, n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sink(b *blob.Bucket, key string) dblob.Sink {
	return dblob.Sink{Bucket: b, Key: key, PartSize: PartSize, Concurrency: 4}
}

// verify checks that key holds exactly Data(seed, n).
func verify(t *testing.T, b *blob.Bucket, key string, n int64, want string) {
	t.Helper()
	ctx := context.Background()
	size, sum, err := dblob.Checksum(ctx, b, key)
	if err != nil {
		t.Fatalf("Checksum(%q): %v", key, err)
	}
	if size != n || sum != want {
		t.Errorf("Checksum(%q) = %d, %s; want %d, %s", key, size, sum, n, want)
	}
	a, err := b.Attributes(ctx, key)
	if err != nil {
		t.Fatalf("Attributes(%q): %v", key, err)
	}
	if a.Size != n {
		t.Errorf("Attributes(%q).Size = %d, want %d", key, a.Size, n)
	}
}

func absent(t *testing.T, b *blob.Bucket, key string) {
	t.Helper()
	_, err := b.Attributes(context.Background(), key)
	if err == nil {
		t.Errorf("%q exists; want nothing under that key", key)
	} else if !dblob.IsNotExist(err) {
		t.Errorf("Attributes(%q): %v; want a not-found error", key, err)
	}
}

func testShipOneSink(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	ctx := context.Background()
	const key = "sales/Sales/full/Sales_full_20261125T045500Z.bak"
	want := digest(t, 1, BigSize)
	var calls int
	var last int64
	size, sum, res, err := dblob.Ship(ctx, Data(1, BigSize), []dblob.Sink{sink(b, key)}, func(n int64) {
		if n < last {
			t.Errorf("progress went back from %d to %d", last, n)
		}
		calls++
		last = n
	})
	if err != nil {
		t.Fatal(err)
	}
	if size != BigSize || sum != want {
		t.Errorf("Ship = %d, %s; want %d, %s", size, sum, BigSize, want)
	}
	if res[0].Err != nil || res[0].Size != BigSize || res[0].SHA256 != want {
		t.Errorf("result = %+v", res[0])
	}
	if calls == 0 || last != BigSize {
		t.Errorf("progress: %d calls, last %d; want the last to be %d", calls, last, BigSize)
	}
	verify(t, b, key, BigSize, want)
}

func testShipThreeSinks(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	ctx := context.Background()
	want := digest(t, 2, BigSize)
	keys := []string{"east/Sales/log/a.trn", "west/Sales/log/a.trn", "copy/Sales/log/a.trn"}
	sinks := []dblob.Sink{sink(b, keys[0]), sink(b, keys[1]), sink(b, keys[2])}
	sinks[1].ExpectSHA256 = strings.ToUpper(want) // case does not matter
	size, sum, res, err := dblob.Ship(ctx, Data(2, BigSize), sinks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if size != BigSize || sum != want {
		t.Errorf("Ship = %d, %s; want %d, %s", size, sum, BigSize, want)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("sink %d: %v", i, r.Err)
			continue
		}
		verify(t, b, keys[i], BigSize, want)
	}
	if !be.Metadata {
		return
	}
	for i, key := range keys {
		a, err := b.Attributes(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got := a.Metadata[dblob.MetadataSHA256]
		switch {
		case i == 1 && got != want:
			t.Errorf("%s: metadata sha256 = %q, want %q", key, got, want)
		case i != 1 && got != "":
			t.Errorf("%s: metadata sha256 = %q, want none (digest not known in advance)", key, got)
		}
	}
}

func testListStatDelete(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	ctx := context.Background()
	keys := []string{
		"sales/Sales/full/Sales_full_20261125T045500Z.bak",
		"sales/Sales/log/Sales_log_20261125T050000Z.trn",
		"sales/Sales/log/Sales_log_20261125T051500Z.trn",
		"sales/Inventory/full/Inventory_full_20261125T045500Z.bak",
	}
	for i, k := range keys {
		if err := b.Upload(ctx, k, Data(uint64(10+i), int64(1000*(i+1))), &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix, delim string) []string {
		t.Helper()
		var out []string
		it := b.List(&blob.ListOptions{Prefix: prefix, Delimiter: delim})
		for {
			o, err := it.Next(ctx)
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("List(%q, %q): %v", prefix, delim, err)
			}
			out = append(out, o.Key)
		}
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("listed %q, want %q", got, want)
		}
	}
	check(list("sales/Sales/log/", ""), keys[1], keys[2])
	check(list("sales/", "/"), "sales/Inventory/", "sales/Sales/")
	check(list("sales/Sales/", "/"), "sales/Sales/full/", "sales/Sales/log/")
	check(list("nothing/", ""))

	a, err := b.Attributes(ctx, keys[2])
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != 3000 || a.ModTime.IsZero() {
		t.Errorf("Attributes = size %d, modtime %v", a.Size, a.ModTime)
	}
	if err := b.Delete(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	absent(t, b, keys[1])
	check(list("sales/Sales/log/", ""), keys[2])
	for _, k := range []string{keys[0], keys[2], keys[3]} {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	check(list("", ""))
}

func testNotFound(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	ctx := context.Background()
	const key = "sales/Sales/log/missing.trn"
	if _, err := b.Attributes(ctx, key); !dblob.IsNotExist(err) {
		t.Errorf("Attributes: %v, want not found", err)
	}
	if _, err := b.NewReader(ctx, key, nil); !dblob.IsNotExist(err) {
		t.Errorf("NewReader: %v, want not found", err)
	}
	if _, _, err := dblob.Checksum(ctx, b, key); !dblob.IsNotExist(err) {
		t.Errorf("Checksum: %v, want not found", err)
	}
	if err := b.Delete(ctx, key); !dblob.IsNotExist(err) {
		t.Errorf("Delete: %v, want not found", err)
	}
	if dblob.IsNotExist(nil) || dblob.IsNotExist(errors.New("other")) {
		t.Error("IsNotExist is true for nil or an unrelated error")
	}
}

// A transfer cancelled halfway leaves nothing under the key — and an older
// object under it untouched.
func testCancelMidUpload(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	const fresh, existing = "cancel/fresh.bak", "cancel/existing.bak"
	old := []byte("the previous, complete object")
	if err := b.Upload(context.Background(), existing, strings.NewReader(string(old)), &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	checked := false
	_, _, res, err := dblob.Ship(ctx, Data(3, BigSize), []dblob.Sink{sink(b, fresh), sink(b, existing)}, func(n int64) {
		if n >= BigSize/4 && !checked {
			checked = true
			// In flight: nothing under the new key, the old object intact.
			absent(t, b, fresh)
			if got, err := b.ReadAll(context.Background(), existing); err != nil || string(got) != string(old) {
				t.Errorf("existing object during an overwrite: %q, %v", got, err)
			}
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Ship err = %v, want context.Canceled", err)
	}
	for i, r := range res {
		if r.Err == nil {
			t.Errorf("sink %d: no error after cancel", i)
		}
	}
	absent(t, b, fresh)
	got, err := b.ReadAll(context.Background(), existing)
	if err != nil || string(got) != string(old) {
		t.Errorf("existing object after a cancelled overwrite: %q, %v; want %q", got, err, old)
	}
}

func testChecksumMismatch(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	ctx := context.Background()
	const bad, good = "mismatch/bad.trn", "mismatch/good.trn"
	wrong := strings.Repeat("0", 64)
	s := sink(b, bad)
	s.ExpectSHA256 = wrong
	want := digest(t, 4, BigSize)
	_, sum, res, err := dblob.Ship(ctx, Data(4, BigSize), []dblob.Sink{s, sink(b, good)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum != want {
		t.Errorf("sum = %s, want %s", sum, want)
	}
	if !errors.Is(res[0].Err, dblob.ErrChecksumMismatch) {
		t.Errorf("mismatching sink: %v, want ErrChecksumMismatch", res[0].Err)
	}
	if res[1].Err != nil {
		t.Errorf("other sink: %v", res[1].Err)
	}
	absent(t, b, bad)
	verify(t, b, good, BigSize, want)
}

func testConditionalCreate(t *testing.T, be Backend) {
	if !be.ConditionalCreate {
		t.Skipf("%s: IfNotExist is not atomic here; locks must not rely on it", be.Name)
	}
	b := be.NewBucket(t)
	ctx := context.Background()
	const key = "locks/state.lock"
	opts := &blob.WriterOptions{ContentType: "application/json"}
	if err := dblob.Create(ctx, b, key, strings.NewReader(`{"id":"first"}`), opts); err != nil {
		t.Fatal(err)
	}
	if err := dblob.Create(ctx, b, key, strings.NewReader(`{"id":"second"}`), opts); !dblob.IsExist(err) {
		t.Errorf("second Create: %v, want exists", err)
	}
	// The server itself refuses (no look first): what makes Create atomic.
	err := b.Upload(ctx, key, strings.NewReader(`{"id":"third"}`), &blob.WriterOptions{ContentType: "application/json", IfNotExist: true})
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Errorf("raw conditional create over an existing object: %v (code %v), want FailedPrecondition", err, gcerrors.Code(err))
	}
	got, err := b.ReadAll(ctx, key)
	if err != nil || string(got) != `{"id":"first"}` {
		t.Errorf("lock holds %q, %v; want the first writer's", got, err)
	}

	// A large object (several parts; far more than a server reads before
	// refusing it) over an existing one: exists, never an unknown error.
	const big = "locks/big"
	const bigSize = 2*PartSize + 1
	if _, _, res, err := dblob.Ship(ctx, Data(5, bigSize), []dblob.Sink{sink(b, big)}, nil); err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	err = dblob.Create(ctx, b, big, Data(6, bigSize), &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: PartSize})
	if !dblob.IsExist(err) {
		t.Errorf("large Create over an existing object: %v, want exists", err)
	}
	verify(t, b, big, bigSize, digest(t, 5, bigSize))

	// Writers racing for one key, small and large bodies: exactly one wins,
	// every other is told "exists" (the server refuses them with 412, or
	// resets the connection while refusing a large body).
	for _, size := range []int64{100, bigSize} {
		race := fmt.Sprintf("locks/race-%d", size)
		const writers = 4
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = dblob.Create(ctx, b, race, Data(uint64(20+i), size), &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: PartSize})
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("%s: writers %d and %d both created it", race, winner, i)
			case err == nil:
				winner = i
			case !dblob.IsExist(err):
				t.Errorf("%s: writer %d: %v, want exists or success", race, i, err)
			}
		}
		if winner < 0 {
			t.Errorf("%s: no writer created it: %v", race, errs)
			continue
		}
		verify(t, b, race, size, digest(t, uint64(20+winner), size))
	}
}

// One sink failing mid-transfer (and one on a server that does not answer)
// does not stop the healthy one.
func testFailingSink(t *testing.T, be Backend) {
	b := be.NewBucket(t)
	ctx := context.Background()
	const key = "failing/healthy.bak"
	fake := &Fake{FailAfter: 3 << 20}
	sinks := []dblob.Sink{sink(b, key), sink(fake.Bucket(), "failing/broken.bak")}
	if be.Unreachable != nil {
		sinks = append(sinks, sink(be.Unreachable(t), "failing/unreachable.bak"))
	}
	want := digest(t, 7, BigSize)
	size, sum, res, err := dblob.Ship(ctx, Data(7, BigSize), sinks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if size != BigSize || sum != want {
		t.Errorf("Ship = %d, %s; want %d, %s", size, sum, BigSize, want)
	}
	if res[0].Err != nil {
		t.Fatalf("healthy sink: %v", res[0].Err)
	}
	verify(t, b, key, BigSize, want)
	if !errors.Is(res[1].Err, ErrInjected) {
		t.Errorf("failing sink: %v, want ErrInjected", res[1].Err)
	}
	if _, ok := fake.Committed("failing/broken.bak"); ok {
		t.Error("the failing sink committed an object")
	}
	if len(res) > 2 && res[2].Err == nil {
		t.Error("the unreachable sink reports success")
	}
}
