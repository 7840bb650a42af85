package apply

import (
	"context"
	"sync"

	gblob "gocloud.dev/blob"

	"github.com/drsctl/drsctl/internal/blob"
)

type blobBucket = *gblob.Bucket

// buckets opens each storage URL once per run.
type buckets struct {
	mu sync.Mutex
	m  map[string]*bucketEntry
}

type bucketEntry struct {
	once sync.Once
	b    *gblob.Bucket
	err  error
}

func newBuckets() *buckets { return &buckets{m: map[string]*bucketEntry{}} }

func (bs *buckets) open(ctx context.Context, url string) (*gblob.Bucket, error) {
	bs.mu.Lock()
	e := bs.m[url]
	if e == nil {
		e = &bucketEntry{}
		bs.m[url] = e
	}
	bs.mu.Unlock()
	e.once.Do(func() { e.b, e.err = blob.Open(context.WithoutCancel(ctx), url) })
	return e.b, e.err
}

func (bs *buckets) close() {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, e := range bs.m {
		if e.b != nil {
			e.b.Close()
		}
	}
}
