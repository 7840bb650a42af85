package blob_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/blob/blobtest"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/state/statetest"
	"github.com/drsctl/drsctl/internal/testenv"
)

// Remote state on the real servers: the Manager conformance suite (the
// same as a local state file's), and the worst cases of a conditional
// create through a fault proxy.

// stateTTL is the lock TTL of these tests: a heartbeat every 200 ms, far
// more than a round trip to the local servers even under -race.
const stateTTL = 1200 * time.Millisecond

// s3StateBucket makes a fresh S3 bucket and returns the URL of a fresh
// prefix in it for each call of the function it returns.
func s3StateBucket(t *testing.T) func(t *testing.T) string {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY")
	s3Env(t, env)
	ctx := context.Background()
	name := unique("drsctl-state")
	whole := open(t, s3URL(name, "", env["DRSCTL_TEST_S3_ENDPOINT"]))
	var client *s3.Client
	if !whole.As(&client) {
		t.Fatal("no *s3.Client")
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		emptyBucket(t, whole)
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Errorf("cleanup: delete bucket %s: %v", name, err)
		}
		_ = whole.Close()
	})
	return func(t *testing.T) string { return s3URL(name, unique("state"), env["DRSCTL_TEST_S3_ENDPOINT"]) }
}

func azureStateContainer(t *testing.T) func(t *testing.T) string {
	env := testenv.Lookup(t, "DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	azureEnv(t, env)
	ctx := context.Background()
	name := unique("drsctl-state")
	q := "?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	whole := open(t, "azblob://"+name+q)
	var client *container.Client
	if !whole.As(&client) {
		t.Fatal("no *container.Client")
	}
	if _, err := client.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := client.Delete(ctx, nil); err != nil {
			t.Errorf("cleanup: delete container %s: %v", name, err)
		}
		_ = whole.Close()
	})
	return func(t *testing.T) string { return "azblob://" + name + "/" + unique("state") + q }
}

func openState(t *testing.T, rawURL string) *dblob.StateStore {
	t.Helper()
	s, err := dblob.OpenStateStore(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func remoteBackend(newURL func(t *testing.T) string) statetest.Backend {
	return statetest.Backend{
		TTL: stateTTL,
		New: func(t *testing.T) func(statetest.Options) statetest.Instance {
			u := newURL(t)
			return func(o statetest.Options) statetest.Instance {
				c := &statetest.Cuttable{Store: openState(t, u)}
				r := state.NewRemote(c, state.RemoteOptions{TTL: o.TTL, Warnf: o.Warnf, CompactEvery: 4,
					PollMin: 20 * time.Millisecond, PollMax: 200 * time.Millisecond})
				return statetest.Instance{Manager: r, Cut: c.Cut}
			}
		},
	}
}

func TestStateConformance_S3(t *testing.T) {
	statetest.Run(t, remoteBackend(s3StateBucket(t)))
}

func TestStateConformance_Azure(t *testing.T) {
	statetest.Run(t, remoteBackend(azureStateContainer(t)))
}

func TestOpenStateStore_refusesWhatHasNoAtomicCreate(t *testing.T) {
	for _, u := range []string{"file:///tmp/x", "smb://u@host/share/x", "/tmp/drs.state", "s3:// bad"} {
		if _, err := dblob.OpenStateStore(context.Background(), u); err == nil || !strings.Contains(err.Error(), "s3:// or azblob://") {
			t.Errorf("%s: err = %v", u, err)
		}
	}
}

// bigState is a ledger whose snapshot (and, until the journal stores only
// what changed, every entry) is well over the 256 KiB a server reads of a
// body it refuses.
func bigState(model string) *state.State {
	s := state.New(state.NewLineage())
	for i := range 3000 {
		s.Database("sales", fmt.Sprintf("db%05d-%s", i, strings.Repeat("x", 120))).RecoveryModel = "FULL"
	}
	s.Database("sales", "Sales").RecoveryModel = model
	return s
}

// Writers of large entries racing for one serial on the real servers: the
// losers are refused by the server (412/409, or versitygw's connection
// reset on a body it will not read) and each is told "plan again", never
// an unknown error.
func TestRemoteState_largeWritersRace(t *testing.T) {
	for name, newURL := range map[string]func(*testing.T) func(*testing.T) string{"s3": s3StateBucket, "azblob": azureStateContainer} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := newURL(t)(t)
			s := bigState("FULL")
			if err := state.NewRemote(openState(t, u), state.RemoteOptions{}).Write(ctx, s); err != nil {
				t.Fatal(err)
			}
			const writers = 4
			ms := make([]*state.Remote, writers)
			read := make([]*state.State, writers)
			for i := range ms {
				ms[i] = state.NewRemote(openState(t, u), state.RemoteOptions{})
				var err error
				if read[i], err = ms[i].Read(ctx); err != nil {
					t.Fatal(err)
				}
				read[i].Database("sales", "Sales").RecoveryModel = fmt.Sprintf("writer-%d", i)
			}
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range ms {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = ms[i].Write(ctx, read[i]) }()
			}
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil && won >= 0:
					t.Errorf("writers %d and %d both wrote serial 2", won, i)
				case err == nil:
					won = i
				case !errors.Is(err, state.ErrConflict):
					t.Errorf("writer %d: %v; want ErrConflict", i, err)
				}
			}
			got, err := state.NewRemote(openState(t, u), state.RemoteOptions{}).Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if won < 0 || got.Serial != 2 || got.LookupDatabase("sales", "Sales").RecoveryModel != fmt.Sprintf("writer-%d", won) {
				t.Errorf("winner %d; ledger at serial %d holds %s", won, got.Serial, got.LookupDatabase("sales", "Sales").RecoveryModel)
			}
		})
	}
}

// The worst cases of a conditional create, forced through a fault proxy.
func TestRemoteState_createFaults(t *testing.T) {
	ctx := context.Background()
	journal := func(m string) func(*http.Request) bool {
		return func(r *http.Request) bool { return r.Method == m && strings.Contains(r.URL.Path, "journal-") }
	}
	forEachStore(t, func(t *testing.T, fs *faultStore) {
		direct := state.NewRemote(dblob.NewStateStore(fs.direct, fs.name), state.RemoteOptions{})
		via := state.NewRemote(dblob.NewStateStore(fs.via, fs.name+" via proxy"), state.RemoteOptions{})
		s := bigState("FULL")
		if err := direct.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Run("RefusedByAResetIsAConflict", func(t *testing.T) {
			mine, err := via.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := direct.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			theirs.Database("sales", "Sales").RecoveryModel = "theirs"
			if err := direct.Write(ctx, theirs); err != nil {
				t.Fatal(err)
			}
			// This run's look misses the other's entry (written in between),
			// and the server refuses the body by resetting the connection.
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.Lie404, Match: journal("HEAD"), Times: 1})
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.ResetMidBody, Match: journal("PUT")})
			mine.Database("sales", "Sales").RecoveryModel = "mine"
			err = via.Write(ctx, mine)
			fs.proxy.Clear()
			if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "plan again") {
				t.Errorf("Write refused by a reset: %v; want ErrConflict", err)
			}
			got, err := direct.Read(ctx)
			if err != nil || got.LookupDatabase("sales", "Sales").RecoveryModel != "theirs" {
				t.Errorf("ledger: %v; want the other writer's entry", err)
			}
		})
		t.Run("CommittedButTheReplyWasLost", func(t *testing.T) {
			mine, err := via.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before := mine.Serial
			fs.proxy.Inject(blobtest.Fault{Kind: blobtest.DropResponse, Match: journal("PUT"), Times: 1})
			mine.Database("sales", "Sales").RecoveryModel = "lost-reply"
			err = via.Write(ctx, mine)
			fs.proxy.Clear()
			if err != nil || mine.Serial != before+1 {
				t.Fatalf("Write whose reply was lost: %v, serial %d; want success at %d", err, mine.Serial, before+1)
			}
			if fs.proxy.Faulted(blobtest.DropResponse) != 1 {
				t.Errorf("the reply was not dropped")
			}
			got, err := direct.Read(ctx)
			if err != nil || got.Serial != before+1 || got.LookupDatabase("sales", "Sales").RecoveryModel != "lost-reply" {
				t.Errorf("ledger after a lost reply: %v", err)
			}
			// And the writer goes on from there.
			mine.Database("sales", "Sales").RecoveryModel = "after"
			if err := via.Write(ctx, mine); err != nil {
				t.Errorf("next write: %v", err)
			}
		})
	})
}

// One commit (one changed database) to a remote ledger of 1,000 databases
// on versitygw: what an action's state write costs there, and that it
// does not grow with the ledger (compare -bench with a smaller ledger).
func BenchmarkRemoteStateWrite_S3(b *testing.B) {
	for _, dbs := range []int{10, 1000} {
		b.Run(fmt.Sprintf("dbs=%d", dbs), func(b *testing.B) {
			newURL := s3StateBucketB(b)
			ctx := context.Background()
			store, err := dblob.OpenStateStore(ctx, newURL())
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			r := state.NewRemote(store, state.RemoteOptions{})
			s := state.New(state.NewLineage())
			for i := range dbs {
				s.Database("sales", fmt.Sprintf("db%05d", i)).RecoveryModel = "FULL"
			}
			if err := r.Write(ctx, s); err != nil {
				b.Fatal(err)
			}
			s.Track()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Database("sales", fmt.Sprintf("db%05d", i%dbs)).RecoveryModel = fmt.Sprint("m", i)
				if err := r.Write(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func s3StateBucketB(b *testing.B) func() string {
	env := testenv.Lookup(b, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY")
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": env["DRSCTL_TEST_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": env["DRSCTL_TEST_S3_SECRET_KEY"],
		"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"} {
		b.Setenv(k, v)
	}
	ctx := context.Background()
	name := unique("drsctl-bench")
	whole, err := dblob.Open(ctx, s3URL(name, "", env["DRSCTL_TEST_S3_ENDPOINT"]))
	if err != nil {
		b.Fatal(err)
	}
	var client *s3.Client
	if !whole.As(&client) {
		b.Fatal("no *s3.Client")
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		it := whole.List(nil)
		for {
			o, err := it.Next(ctx)
			if err != nil {
				break
			}
			_ = whole.Delete(ctx, o.Key)
		}
		_, _ = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
		_ = whole.Close()
	})
	return func() string { return s3URL(name, unique("state"), env["DRSCTL_TEST_S3_ENDPOINT"]) }
}
