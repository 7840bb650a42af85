package blob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/blob/blobtest"
)

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// countingReader counts what is read from it and can fail after n bytes.
type countingReader struct {
	r       io.Reader
	n       int64
	failAt  int64
	failErr error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.failAt > 0 && c.n >= c.failAt {
		return 0, c.failErr
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestShip_ContentsReachEverySink(t *testing.T) {
	data, _ := io.ReadAll(blobtest.Data(1, 3<<20+17))
	fakes := []*blobtest.Fake{{}, {}, {}}
	var sinks []dblob.Sink
	for _, f := range fakes {
		sinks = append(sinks, dblob.Sink{Bucket: f.Bucket(), Key: "k"})
	}
	size, sum, res, err := dblob.Ship(context.Background(), blobtest.Data(1, 3<<20+17), sinks, nil)
	if err != nil || size != int64(len(data)) || sum != sha(data) {
		t.Fatalf("Ship = %d, %s, %v", size, sum, err)
	}
	for i, f := range fakes {
		if res[i].Err != nil || res[i].SHA256 != sum || res[i].Size != size {
			t.Errorf("sink %d: %+v", i, res[i])
		}
		if got := f.Contents("k"); sha(got) != sum {
			t.Errorf("sink %d holds %d bytes with another digest", i, len(got))
		}
	}
}

func TestShip_NoSinksDigests(t *testing.T) {
	data, _ := io.ReadAll(blobtest.Data(2, 1<<20))
	size, sum, res, err := dblob.Ship(context.Background(), blobtest.Data(2, 1<<20), nil, nil)
	if err != nil || size != 1<<20 || sum != sha(data) || len(res) != 0 {
		t.Errorf("Ship = %d, %s, %v, %v", size, sum, res, err)
	}
}

func TestShip_EmptySource(t *testing.T) {
	f := &blobtest.Fake{}
	size, sum, res, err := dblob.Ship(context.Background(), io.LimitReader(nil, 0), []dblob.Sink{{Bucket: f.Bucket(), Key: "empty"}}, nil)
	if err != nil || size != 0 || sum != sha(nil) || res[0].Err != nil {
		t.Fatalf("Ship = %d, %s, %+v, %v", size, sum, res, err)
	}
	if n, ok := f.Committed("empty"); !ok || n != 0 {
		t.Errorf("empty object: committed %v, size %d", ok, n)
	}
}

func TestShip_SourceFailure(t *testing.T) {
	boom := errors.New("disk read error")
	src := &countingReader{r: blobtest.Data(3, 20<<20), failAt: 5 << 20, failErr: boom}
	fakes := []*blobtest.Fake{{}, {}}
	sinks := []dblob.Sink{{Bucket: fakes[0].Bucket(), Key: "a"}, {Bucket: fakes[1].Bucket(), Key: "b"}}
	_, sum, res, err := dblob.Ship(context.Background(), src, sinks, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the source's", err)
	}
	if sum != "" {
		t.Errorf("sum = %q after a failed read, want empty", sum)
	}
	for i, r := range res {
		if !errors.Is(r.Err, boom) {
			t.Errorf("sink %d: %v, want the source's error", i, r.Err)
		}
	}
	for i, f := range fakes {
		if _, ok := f.Committed(sinks[i].Key); ok {
			t.Errorf("sink %d committed a partial object", i)
		}
	}
}

func TestShip_AllSinksFailedStopsReading(t *testing.T) {
	src := &countingReader{r: blobtest.Data(4, 1<<30)}
	f1, f2 := &blobtest.Fake{FailAfter: 1 << 20}, &blobtest.Fake{FailAfter: 2 << 20}
	_, sum, res, err := dblob.Ship(context.Background(), src,
		[]dblob.Sink{{Bucket: f1.Bucket(), Key: "a"}, {Bucket: f2.Bucket(), Key: "b"}}, nil)
	if err != nil {
		t.Fatalf("err = %v; sink failures are not Ship's error", err)
	}
	if sum != "" {
		t.Errorf("sum = %q, want empty when no sink took the whole source", sum)
	}
	for i, r := range res {
		if !errors.Is(r.Err, blobtest.ErrInjected) {
			t.Errorf("sink %d: %v", i, r.Err)
		}
	}
	if src.n > 64<<20 {
		t.Errorf("read %d MiB of a 1 GiB source after every sink had failed", src.n>>20)
	}
}

func TestShip_SlowSinkDoesNotStopOthers(t *testing.T) {
	slow, fast, broken := &blobtest.Fake{Delay: 2 * time.Millisecond}, &blobtest.Fake{}, &blobtest.Fake{FailAfter: 1}
	_, sum, res, err := dblob.Ship(context.Background(), blobtest.Data(5, 8<<20), []dblob.Sink{
		{Bucket: slow.Bucket(), Key: "slow"}, {Bucket: broken.Bucket(), Key: "broken"}, {Bucket: fast.Bucket(), Key: "fast"},
	}, nil)
	if err != nil || res[0].Err != nil || res[2].Err != nil || res[1].Err == nil {
		t.Fatalf("err %v, results %+v", err, res)
	}
	if sha(slow.Contents("slow")) != sum || sha(fast.Contents("fast")) != sum {
		t.Error("slow or fast sink holds other bytes")
	}
}

func TestShip_MismatchNotCommitted(t *testing.T) {
	f := &blobtest.Fake{}
	_, _, res, err := dblob.Ship(context.Background(), blobtest.Data(6, 1<<20),
		[]dblob.Sink{{Bucket: f.Bucket(), Key: "x", ExpectSHA256: "00"}}, nil)
	if err != nil || !errors.Is(res[0].Err, dblob.ErrChecksumMismatch) {
		t.Fatalf("err %v, result %v", err, res[0].Err)
	}
	if _, ok := f.Committed("x"); ok {
		t.Error("a mismatching object was committed")
	}
}

// Memory is bounded by parts, not by the size of what is shipped.
func TestShip_MemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("ships 3 × 128 MiB")
	}
	const size = 128 << 20
	fakes := []*blobtest.Fake{{Discard: true}, {Discard: true}, {Discard: true}}
	var sinks []dblob.Sink
	for _, f := range fakes {
		sinks = append(sinks, dblob.Sink{Bucket: f.Bucket(), Key: "big"})
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	var ms runtime.MemStats
	_, _, res, err := dblob.Ship(context.Background(), blobtest.Data(7, size), sinks, func(n int64) {
		if n%(64<<20) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Size != size {
			t.Fatalf("sink %d: %+v", i, r)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB to ship 3 × %d MiB", alloc>>20, size>>20)
	}
	if peak > before.HeapInuse+64<<20 {
		t.Errorf("heap in use peaked at %d MiB", peak>>20)
	}
}

// BenchmarkShip_FanOut3 ships to three discarding sinks; compare B/op across
// sizes: it stays flat while the size grows 8×, because memory is bounded by
// parts, not by what is shipped.
func BenchmarkShip_FanOut3(b *testing.B) {
	for _, size := range []int64{16 << 20, 128 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var sinks []dblob.Sink
				for j := 0; j < 3; j++ {
					sinks = append(sinks, dblob.Sink{Bucket: (&blobtest.Fake{Discard: true}).Bucket(), Key: "big"})
				}
				if _, _, _, err := dblob.Ship(context.Background(), blobtest.Data(7, size), sinks, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
