package cli_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/testenv"
)

// The state block names a remote ledger: apply writes it there, a held
// lock is named with the way to remove it, force-unlock without an ID
// shows the holder, with the ID removes it.
func TestRemoteState_StateBlock(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, env)
	ctx := context.Background()
	unique := fmt.Sprintf("drsctl-stateblock-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/east/state?" + s3q.Encode()
	azURL := "azblob://" + unique + "/east/state?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	createBucketAndContainer(t, s3URL, azURL)
	for _, be := range []struct{ name, url string }{{"s3", s3URL}, {"azblob", azURL}} {
		t.Run(be.name, func(t *testing.T) {
			h := newHarness(t)
			cfgPath := filepath.Join(h.dir, "main.drs.hcl")
			cfg := readFile(t, cfgPath) + fmt.Sprintf("\nstate {\n  url = %q\n}\n", be.url)
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			if code := h.apply(); code != 0 {
				t.Fatalf("apply: exit %d\n%s", code, h.stderr.String())
			}
			if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json")); !os.IsNotExist(err) {
				t.Errorf("a local state file was written (%v)", err)
			}
			store, err := dblob.OpenStateStore(ctx, be.url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			st, err := state.NewRemote(store, state.RemoteOptions{}).Read(ctx)
			if err != nil || st == nil || st.LookupDatabase("sales", "Sales") == nil {
				t.Fatalf("remote ledger after apply: %v, %v", st, err)
			}

			e := h.env()
			if code := e.ShowLock(ctx, h.globals()); code != 0 || !strings.Contains(h.stdout.String(), "is not locked") {
				t.Errorf("force-unlock without an ID, unlocked: exit %d\n%s%s", code, h.stdout.String(), h.stderr.String())
			}
			lease, err := state.NewRemote(store, state.RemoteOptions{}).Lock(ctx, "apply", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer lease.Unlock()
			id := lease.Info().ID
			e = h.env()
			if code := e.ShowLock(ctx, h.globals()); code != 0 || !strings.Contains(h.stdout.String(), "ID:        "+id) || !strings.Contains(h.stdout.String(), "drsctl force-unlock "+id) {
				t.Errorf("force-unlock without an ID, locked: exit %d\n%s%s", code, h.stdout.String(), h.stderr.String())
			}
			if code := h.plan(cli.PlanOptions{Refresh: true, LockTimeout: 100 * time.Millisecond}); code != 1 || !strings.Contains(h.stderr.String(), "force-unlock "+id) {
				t.Errorf("plan with the lock held: exit %d\n%s", code, h.stderr.String())
			}
			e = h.env()
			if code := e.ForceUnlock(ctx, h.globals(), id); code != 0 {
				t.Fatalf("force-unlock: exit %d\n%s", code, h.stderr.String())
			}
			if err := lease.Valid(); err == nil {
				t.Error("the force-unlocked lease is still valid")
			}
			if code := h.apply(); code != 0 {
				t.Fatalf("apply after force-unlock: exit %d\n%s", code, h.stderr.String())
			}
		})
	}
}

// A state URL drsctl cannot lock safely is refused, saying what to use.
func TestRemoteState_unsupportedURL(t *testing.T) {
	h := newHarness(t)
	g := h.globals()
	g.State = "smb://fs01/drs/state"
	if code := h.env().ShowLock(context.Background(), g); code != 1 || !strings.Contains(h.stderr.String(), "mount it and give its path") {
		t.Errorf("exit %d: %s", code, h.stderr.String())
	}
}

func TestShowLock_Local(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	e := h.env()
	if code := e.ShowLock(ctx, h.globals()); code != 0 || !strings.Contains(h.stdout.String(), "is not locked") {
		t.Errorf("exit %d: %s%s", code, h.stdout.String(), h.stderr.String())
	}
	lease, err := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{}).Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	e = h.env()
	if code := e.ShowLock(ctx, h.globals()); code != 0 || !strings.Contains(h.stdout.String(), lease.Info().ID) || !strings.Contains(h.stdout.String(), "Who:       "+lease.Info().Who) {
		t.Errorf("exit %d: %s%s", code, h.stdout.String(), h.stderr.String())
	}
}
