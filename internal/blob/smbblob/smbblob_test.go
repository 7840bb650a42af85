package smbblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/drivertest"

	"github.com/drsctl/drsctl/internal/testenv"
)

// serverOptions are the test smbd's (scripts/testenv.sh), or the test ends.
func serverOptions(t testing.TB) Options {
	env := testenv.Lookup(t, "DRSCTL_TEST_SMB_ADDR", "DRSCTL_TEST_SMB_SHARE", "DRSCTL_TEST_SMB_USER", "DRSCTL_TEST_SMB_PASSWORD")
	return Options{
		Addr:     env["DRSCTL_TEST_SMB_ADDR"],
		Share:    env["DRSCTL_TEST_SMB_SHARE"],
		User:     env["DRSCTL_TEST_SMB_USER"],
		Password: env["DRSCTL_TEST_SMB_PASSWORD"],
	}
}

func uniqueDir(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// harness gives each conformance test its own directory on the share.
type harness struct {
	opts Options
}

func (h *harness) MakeDriver(ctx context.Context) (driver.Bucket, error) {
	return openBucket(h.opts)
}

func (h *harness) MakeDriverForNonexistentBucket(ctx context.Context) (driver.Bucket, error) {
	o := h.opts
	o.Share = "no-such-share"
	return openBucket(o)
}

func (h *harness) HTTPClient() *http.Client         { return nil }
func (h *harness) SupportsCopy() bool               { return true }
func (h *harness) SupportsNonSlashDelimiters() bool { return true }
func (h *harness) Close() {
	// Directories are pruned as the tests delete their blobs; whatever a
	// failed test left stays for inspection under .testenv/smb/share.
}

func TestConformance(t *testing.T) {
	opts := serverOptions(t)
	newHarness := func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		o := opts
		o.Dir = uniqueDir("drivertest")
		return &harness{opts: o}, nil
	}
	drivertest.RunConformanceTests(t, newHarness, nil)
}

func TestEscapeKey_RoundTrip(t *testing.T) {
	keys := []string{
		"Sales/Sales/full/Sales_full_20261125T045500Z.bak",
		"O~27Brien/log/x.trn",
		"foo//bar///baz", "../foo/../bar/../../baz../", "foo\\bar", "a:b", "trail. /x ", ".hidden/.x",
		"CON", "con.txt/LPT1", "__0x41__", "_", "/lead", "trail/", "☺☺☺", "a\x01b\x7f", "12345", "a/b/c",
	}
	for _, k := range keys {
		segs := escapeKey(k)
		for _, s := range segs {
			if s == "" || strings.HasPrefix(s, ".") || strings.ContainsAny(s, `\/:*?"<>|`) || strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") {
				t.Errorf("escapeKey(%q) = %q: segment %q is not a safe file name", k, segs, s)
			}
		}
		if got := unescapePath(segs); got != k {
			t.Errorf("unescapePath(escapeKey(%q)) = %q", k, got)
		}
	}
	// drsctl's own keys pass through unchanged.
	if got := strings.Join(escapeKey("sales/Sales/full/Sales_full_20261125T045500Z.bak"), "/"); got != "sales/Sales/full/Sales_full_20261125T045500Z.bak" {
		t.Errorf("drsctl key escaped to %q", got)
	}
}

func TestURLOpener_Options(t *testing.T) {
	env := map[string]string{EnvUser: "envuser", EnvPassword: "s3cret", EnvDomain: "CORP", "OTHER_PW": "other"}
	o := &URLOpener{Getenv: func(k string) string { return env[k] }}
	tests := []struct {
		name, url string
		want      Options
		wantErr   string
	}{
		{name: "user in URL, password from env", url: "smb://drs@fs01.corp:4445/drs/sales/east",
			want: Options{Addr: "fs01.corp:4445", Share: "drs", Dir: "sales/east", User: "drs", Password: "s3cret", Domain: "CORP", PasswordEnv: EnvPassword}},
		{name: "user from env, share root", url: "smb://fs01/drs",
			want: Options{Addr: "fs01", Share: "drs", User: "envuser", Password: "s3cret", Domain: "CORP", PasswordEnv: EnvPassword}},
		{name: "password_env and domain", url: "smb://fs01/drs/x?password_env=OTHER_PW&domain=EAST",
			want: Options{Addr: "fs01", Share: "drs", Dir: "x", User: "envuser", Password: "other", Domain: "EAST", PasswordEnv: "OTHER_PW"}},
		{name: "password in userinfo refused", url: "smb://u:hunter2@fs01/drs", wantErr: "must not contain a password"},
		{name: "password parameter refused", url: "smb://fs01/drs?password=hunter2", wantErr: "must not contain a password"},
		{name: "no share", url: "smb://fs01/", wantErr: "no share"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.options(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error %q echoes the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Buckets on one server, share and user share one pool of sessions.
func TestOpenBucket_SharesPool(t *testing.T) {
	opts := serverOptions(t)
	ctx := context.Background()
	opts.Dir = uniqueDir("share-session")
	b1, err := OpenBucket(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	o2 := opts
	o2.Dir = opts.Dir + "/sub"
	b2, err := OpenBucket(o2)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := b1.WriteAll(ctx, "a", []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b2.WriteAll(ctx, "b", []byte("2"), nil); err != nil {
		t.Fatal(err)
	}
	pool.Lock()
	n := 0
	for k := range pool.m {
		if k.addr == opts.Addr && k.share == opts.Share && k.user == opts.User {
			n++
		}
	}
	pool.Unlock()
	if n != 1 {
		t.Errorf("%d session pools for %s, want 1", n, opts.Addr)
	}
	got, err := b1.ReadAll(ctx, "sub/b")
	if err != nil || string(got) != "2" {
		t.Errorf("read through the other bucket: %q, %v", got, err)
	}
	for _, k := range []struct {
		b   *blob.Bucket
		key string
	}{{b1, "a"}, {b2, "b"}} {
		if err := k.b.Delete(ctx, k.key); err != nil {
			t.Error(err)
		}
	}
}
