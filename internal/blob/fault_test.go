package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/blob/blobtest"
	"github.com/drsctl/drsctl/internal/testenv"
)

// Faults between drsctl and an object store, injected by a proxy in front of
// the real servers (versitygw, Azurite): error statuses, resets, a server
// that hangs, one that is slow. What is asserted is drsctl's blob layer:
// retries with backoff (honouring Retry-After), a clear error for what still
// fails, failing only the sink that needs the faulty server, nothing ever
// hanging, and nothing partial committed.

// stall is the liveness limit the faulty buckets are opened with.
const stall = time.Second

// faultStore is one object store behind a fault proxy: a fresh bucket
// reached through the proxy, and the same bucket reached directly.
type faultStore struct {
	name        string
	proxy       *blobtest.FaultProxy
	via, direct *blob.Bucket
	// busyCode is the server's error code for 503 (what the error must name).
	busyCode string
}

func s3FaultStore(t *testing.T) *faultStore {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY")
	s3Env(t, env)
	ctx := context.Background()
	name := unique("drsctl-fault")
	direct := open(t, s3URL(name, "dest", env["DRSCTL_TEST_S3_ENDPOINT"]))
	var client *s3.Client
	if !direct.As(&client) {
		t.Fatal("no *s3.Client")
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	p := blobtest.NewFaultProxy(t, env["DRSCTL_TEST_S3_ENDPOINT"])
	via := open(t, s3URL(name, "dest", p.URL)+"&stall_timeout="+stall.String())
	t.Cleanup(func() {
		p.Close()
		_ = via.Close()
		emptyBucket(t, direct)
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Errorf("cleanup: delete bucket %s: %v", name, err)
		}
		_ = direct.Close()
	})
	return &faultStore{name: "s3", proxy: p, via: via, direct: direct, busyCode: "SlowDown"}
}

func azureEnv(t *testing.T, env map[string]string) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", env["DRSCTL_TEST_AZURE_ACCOUNT"])
	t.Setenv("AZURE_STORAGE_KEY", env["DRSCTL_TEST_AZURE_KEY"])
	for _, k := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING", "AZURE_STORAGE_SAS_TOKEN",
		"AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL", "AZURE_STORAGE_IS_CDN", "AZURE_STORAGE_IS_LOCAL_EMULATOR"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func azureFaultStore(t *testing.T) *faultStore {
	env := testenv.Lookup(t, "DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	azureEnv(t, env)
	ctx := context.Background()
	name := unique("drsctl-fault")
	azURL := func(domain string) string {
		return "azblob://" + name + "/dest?" + url.Values{"protocol": {"http"}, "domain": {domain}}.Encode()
	}
	direct := open(t, azURL(env["DRSCTL_TEST_AZURE_DOMAIN"]))
	var client *container.Client
	if !direct.As(&client) {
		t.Fatal("no *container.Client")
	}
	if _, err := client.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	p := blobtest.NewFaultProxy(t, "http://"+env["DRSCTL_TEST_AZURE_DOMAIN"])
	via := open(t, azURL(p.Addr)+"&stall_timeout="+stall.String())
	t.Cleanup(func() {
		p.Close()
		_ = via.Close()
		if _, err := client.Delete(ctx, nil); err != nil {
			t.Errorf("cleanup: delete container %s: %v", name, err)
		}
		_ = direct.Close()
	})
	return &faultStore{name: "azblob", proxy: p, via: via, direct: direct, busyCode: "ServerBusy"}
}

func method(m string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == m }
}

// forEachStore runs fn against S3 and Azure, each behind a fresh proxy.
func forEachStore(t *testing.T, fn func(t *testing.T, fs *faultStore)) {
	// Backoff from 10 ms, not 1 s: the tests count retries, not wait them.
	dblob.SetRetryBase(t, 10*time.Millisecond)
	for _, st := range []struct {
		name string
		mk   func(*testing.T) *faultStore
	}{{"s3", s3FaultStore}, {"azblob", azureFaultStore}} {
		t.Run(st.name, func(t *testing.T) { fn(t, st.mk(t)) })
	}
}

const mib = 1 << 20

func shipOne(t *testing.T, b *blob.Bucket, key string, seed uint64, n int64) dblob.Result {
	t.Helper()
	_, _, res, err := dblob.Ship(context.Background(), blobtest.Data(seed, n), []dblob.Sink{{Bucket: b, Key: key, PartSize: 5 * mib, Concurrency: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// holds checks, through the direct bucket, that key holds Data(seed, n).
func holds(t *testing.T, b *blob.Bucket, key string, seed uint64, n int64) {
	t.Helper()
	got, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	want, _ := io.ReadAll(blobtest.Data(seed, n))
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %d bytes, not the %d written", key, len(got), n)
	}
}

func missing(t *testing.T, b *blob.Bucket, key string) {
	t.Helper()
	if _, err := b.Attributes(context.Background(), key); !dblob.IsNotExist(err) {
		t.Errorf("%s: %v, want nothing there", key, err)
	}
}

// A few 500s and 503s (S3 SlowDown, Azure ServerBusy) on writes and reads
// are retried, and the transfer completes.
func TestFaults_ErrorStatusesAreRetried(t *testing.T) {
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Fail500, Match: method("PUT"), Times: 2})
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.SlowDown503, Match: method("PUT"), Times: 2})
		if r := shipOne(t, fs.via, "a.trn", 1, mib); r.Err != nil {
			t.Fatalf("ship through 2×500 and 2×503: %v", r.Err)
		}
		holds(t, fs.direct, "a.trn", 1, mib)
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.SlowDown503, Match: method("GET"), Times: 2})
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Fail500, Match: method("HEAD"), Times: 2})
		if _, err := fs.via.Attributes(context.Background(), "a.trn"); err != nil {
			t.Errorf("attributes through 2×500: %v", err)
		}
		if n, _, err := dblob.Checksum(context.Background(), fs.via, "a.trn"); err != nil || n != mib {
			t.Errorf("read through 2×503: %d bytes, %v", n, err)
		}
		if got := fs.proxy.Faulted(blobtest.Fail500) + fs.proxy.Faulted(blobtest.SlowDown503); got != 8 {
			t.Errorf("%d faults served, want 8", got)
		}
	})
}

// A 503 with Retry-After is retried no sooner than the server asked.
func TestFaults_RetryAfterIsHonoured(t *testing.T) {
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		if err := fs.direct.WriteAll(context.Background(), "a.trn", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.SlowDown503, Match: method("HEAD"), Times: 1, RetryAfter: "2"})
		if _, err := fs.via.Attributes(context.Background(), "a.trn"); err != nil {
			t.Fatalf("attributes: %v", err)
		}
		reqs := fs.proxy.Requests()
		if len(reqs) != 2 || reqs[0].Fault != blobtest.SlowDown503 || reqs[1].Fault != 0 {
			t.Fatalf("requests: %+v; want the 503 then one retry", reqs)
		}
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 1900*time.Millisecond {
			t.Errorf("retried after %v; the server asked for 2s", gap)
		}
	})
}

// A destination that keeps failing fails its sink — after a bounded number
// of attempts, with an error naming what the server said — and only that
// sink; nothing is committed there.
func TestFaults_PersistentErrorFailsOnlyThatSink(t *testing.T) {
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.SlowDown503, Match: method("PUT")})
		healthy := blobtest.Fake{}
		_, _, res, err := dblob.Ship(context.Background(), blobtest.Data(2, mib), []dblob.Sink{
			{Bucket: fs.via, Key: "a.trn"}, {Bucket: healthy.Bucket(), Key: "a.trn"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), fs.busyCode) {
			t.Errorf("failing sink: %v; want an error naming %s", res[0].Err, fs.busyCode)
		}
		if res[1].Err != nil {
			t.Errorf("healthy sink: %v", res[1].Err)
		}
		if n := fs.proxy.Faulted(blobtest.SlowDown503); n != 5 {
			t.Errorf("%d attempts, want 5", n)
		}
		fs.proxy.Clear()
		missing(t, fs.direct, "a.trn")
	})
}

// A connection reset halfway through a request body is retried; one that
// keeps happening fails the sink, with nothing committed.
func TestFaults_ResetMidBody(t *testing.T) {
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.ResetMidBody, Match: method("PUT"), Times: 1})
		if r := shipOne(t, fs.via, "a.bak", 3, 3*mib); r.Err != nil {
			t.Fatalf("ship through one reset: %v", r.Err)
		}
		holds(t, fs.direct, "a.bak", 3, 3*mib)
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.ResetMidBody, Match: method("PUT")})
		r := shipOne(t, fs.via, "b.bak", 4, 3*mib)
		if !dropped(r.Err) {
			t.Errorf("ship through resets only: %v, want a connection reset error", r.Err)
		}
		fs.proxy.Clear()
		missing(t, fs.direct, "b.bak")
	})
}

// A server that accepts connections and never answers fails the calls that
// need it within the stall limit × attempts — never hangs — and a ship to it
// does not stop the other sinks.
func TestFaults_HungServerNeverHangs(t *testing.T) {
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Hang})
		ctx := context.Background()
		start := time.Now()
		_, err := fs.via.Attributes(ctx, "a.trn")
		var stalled *dblob.StalledError
		if !errors.As(err, &stalled) {
			t.Errorf("attributes on a hung server: %v; want a stalled-connection error", err)
		}
		healthy := blobtest.Fake{}
		_, _, res, err := dblob.Ship(ctx, blobtest.Data(5, mib), []dblob.Sink{
			{Bucket: fs.via, Key: "a.bak", PartSize: 5 * mib, Concurrency: 2}, {Bucket: healthy.Bucket(), Key: "a.bak"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "stalled") {
			t.Errorf("ship to a hung server: %v; want a stalled-connection error", res[0].Err)
		}
		if res[1].Err != nil {
			t.Errorf("healthy sink: %v", res[1].Err)
		}
		// 2 calls × 5 attempts × 1 s, plus backoff and slack for a busy machine.
		if d := time.Since(start); d > 60*time.Second {
			t.Errorf("took %v", d)
		}
		t.Logf("two calls against a hung server failed in %v", time.Since(start).Round(time.Millisecond))
		fs.proxy.Clear()
		missing(t, fs.direct, "a.bak")

		// Hung once: the retry on a fresh connection succeeds.
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Hang, Match: method("PUT"), Times: 1})
		if r := shipOne(t, fs.via, "b.bak", 6, mib); r.Err != nil {
			t.Errorf("ship through one hung request: %v", r.Err)
		}
		holds(t, fs.direct, "b.bak", 6, mib)
	})
}

// A transfer that takes many times the stall limit but keeps moving is not
// cut short: the limit is on silence, not on duration.
func TestFaults_SlowTransferIsNotKilled(t *testing.T) {
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		const size = 3 * mib
		fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Slow, Rate: mib})
		start := time.Now()
		if r := shipOne(t, fs.via, "a.bak", 7, size); r.Err != nil {
			t.Fatalf("slow ship: %v", r.Err)
		}
		if n, _, err := dblob.Checksum(context.Background(), fs.via, "a.bak"); err != nil || n != size {
			t.Errorf("slow read: %d bytes, %v", n, err)
		}
		if d := time.Since(start); d < 3*stall {
			t.Errorf("transfers took %v: not slow enough to show anything", d)
		}
		if puts := countMethod(fs.proxy.Requests(), "PUT"); puts != 1 {
			t.Errorf("%d PUTs: a slow upload was retried", puts)
		}
		holds(t, fs.direct, "a.bak", 7, size)
	})
}

func countMethod(reqs []blobtest.Request, m string) int {
	n := 0
	for _, r := range reqs {
		if r.Method == m {
			n++
		}
	}
	return n
}

// Conditional creates through faults: "exists" exactly when another
// writer's object is there.
func TestCreate_Faults(t *testing.T) {
	ctx := context.Background()
	const size = mib // more than a server reads of a body it refuses
	opts := &blob.WriterOptions{ContentType: "application/octet-stream"}
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		t.Run("ExistsWhenTheServerResetsWhileRefusing", func(t *testing.T) {
			fs.proxy.Clear()
			if err := fs.direct.Upload(ctx, "a.lock", blobtest.Data(1, size), opts); err != nil {
				t.Fatal(err)
			}
			// The first look misses it (another writer got there in
			// between); the server then refuses the body with a reset.
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Lie404, Match: method("HEAD"), Times: 1})
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.ResetMidBody, Match: method("PUT")})
			err := dblob.Create(ctx, fs.via, "a.lock", blobtest.Data(2, size), opts)
			var ee *dblob.ExistsError
			if !dblob.IsExist(err) || !errors.As(err, &ee) || !dropped(ee.Cause) {
				t.Errorf("Create: %v (cause %v); want exists, caused by a reset", err, causeOf(err))
			}
			fs.proxy.Clear()
			holds(t, fs.direct, "a.lock", 1, size)
		})
		t.Run("ExistsWhenTheServerRefusesItself", func(t *testing.T) {
			fs.proxy.Clear()
			if err := fs.direct.Upload(ctx, "b.lock", blobtest.Data(1, size), opts); err != nil {
				t.Fatal(err)
			}
			// versitygw resets the connection on a refused body this
			// large, Azurite answers 409: both are "exists".
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Lie404, Match: method("HEAD"), Times: 1})
			if err := dblob.Create(ctx, fs.via, "b.lock", blobtest.Data(2, size), opts); !dblob.IsExist(err) {
				t.Errorf("Create: %v; want exists", err)
			}
			fs.proxy.Clear()
			holds(t, fs.direct, "b.lock", 1, size)
		})
		t.Run("ResetForAnotherReasonIsNotExists", func(t *testing.T) {
			fs.proxy.Clear()
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.ResetMidBody, Match: method("PUT")})
			err := dblob.Create(ctx, fs.via, "c.lock", blobtest.Data(2, size), opts)
			if dblob.IsExist(err) || !dropped(err) {
				t.Errorf("Create: %v; want a reset error, not exists", err)
			}
			fs.proxy.Clear()
			missing(t, fs.direct, "c.lock")
		})
		t.Run("CommittedButTheAnswerWasLost", func(t *testing.T) {
			fs.proxy.Clear()
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.DropResponse, Match: method("PUT"), Times: 1})
			if err := dblob.Create(ctx, fs.via, "d.lock", blobtest.Data(3, size), opts); err != nil {
				t.Errorf("Create: %v; want success (the object is ours)", err)
			}
			fs.proxy.Clear()
			holds(t, fs.direct, "d.lock", 3, size)
		})
	})
}

// dropped reports whether err is the server dropping the connection: a
// reset, or — when the reset arrives while writing — a broken pipe.
func dropped(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func causeOf(err error) error {
	var ee *dblob.ExistsError
	if errors.As(err, &ee) {
		return ee.Cause
	}
	return nil
}
