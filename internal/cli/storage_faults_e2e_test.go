package cli_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/blob/blobtest"
	"github.com/drsctl/drsctl/internal/testenv"
)

// TestSQLServer_StorageFaultsFailOnlyTheirTarget: one apply ships to a file
// standby and to two copy-only vaults whose object stores misbehave — S3
// answering every upload 503 SlowDown, Azure accepting uploads and never
// answering. The standby is seeded and restored; each vault's ship fails,
// after bounded retries, with an error saying what the server did; the run
// ends. When the stores recover, the next apply converges.
func TestSQLServer_StorageFaultsFailOnlyTheirTarget(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	unique := fmt.Sprintf("drsctl-faults-%d", time.Now().UnixNano())
	useTestStorageCredentials(t, env)

	s3p := blobtest.NewFaultProxy(t, env["DRSCTL_TEST_S3_ENDPOINT"])
	azp := blobtest.NewFaultProxy(t, "http://"+env["DRSCTL_TEST_AZURE_DOMAIN"])
	s3URL := func(endpoint string) string {
		return "s3://" + unique + "/sales?" + url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}, "stall_timeout": {"1s"}}.Encode()
	}
	azURL := func(domain string) string {
		return "azblob://" + unique + "/sales?" + url.Values{"protocol": {"http"}, "domain": {domain}, "stall_timeout": {"1s"}}.Encode()
	}
	createBucketAndContainer(t, s3URL(env["DRSCTL_TEST_S3_ENDPOINT"]), azURL(env["DRSCTL_TEST_AZURE_DOMAIN"]))

	h := newSQLHarness(t)
	cfg := fmt.Sprintf(`
backup_folder "share" {
  url = "file://%[1]s/share"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target "east" {
  primary      = primary.sales
  connection   = env("EAST_DSN")
  restore_mode = "standby"
  data_dir     = "%[1]s/east-data"
  destination { url = "file://%[1]s/east" }
}
target "s3vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = %[2]q }
}
target "azvault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = %[3]q }
}
`, h.dir, s3URL(s3p.URL), azURL(azp.Addr))
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")

	isPut := func(r *http.Request) bool { return r.Method == http.MethodPut }
	s3p.Inject(blobtest.Fault{Kind: blobtest.SlowDown503, Match: isPut})
	azp.Inject(blobtest.Fault{Kind: blobtest.Hang, Match: isPut})
	start := time.Now()
	code := h.apply()
	took := time.Since(start)
	out := h.stdout.String() + h.stderr.String()
	if code == 0 {
		t.Fatalf("apply with failing vaults exited 0:\n%s", out)
	}
	if took > 3*time.Minute {
		t.Errorf("apply with failing vaults took %v", took)
	}
	t.Logf("apply with failing vaults: exit %d in %v", code, took.Round(time.Millisecond))
	for _, want := range []string{"SlowDown", "stalled"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output does not say %q:\n%s", want, out)
		}
	}
	if got := h.rows(h.east, "Sales"); fmt.Sprint(got) != "[1]" {
		t.Errorf("east rows = %v; the healthy target must be served", got)
	}
	st := h.state()
	if td := st.Targets["east"].Databases["Sales"]; td == nil || td.Restored == nil {
		t.Errorf("east: nothing restored: %+v", td)
	}
	for _, tn := range []string{"s3vault", "azvault"} {
		if td := st.Targets[tn]; td != nil && td.Databases["Sales"] != nil && len(td.Databases["Sales"].Copies) != 0 {
			t.Errorf("%s: copies recorded although every upload failed: %+v", tn, td.Databases["Sales"].Copies)
		}
	}

	// The stores recover: the next apply ships what is missing.
	s3p.Clear()
	azp.Clear()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after recovery exit %d", code)
	}
	st = h.state()
	arts := st.Primaries["sales"].Databases["Sales"].Artifacts
	for _, tn := range []string{"s3vault", "azvault"} {
		for _, a := range arts {
			if c := st.Targets[tn].Databases["Sales"].Copies[a.ID]; c == nil || c.VerifiedAt == nil || c.SHA256 != a.SHA256 {
				t.Errorf("%s: copy of %s = %+v after recovery", tn, a.ID, c)
			}
		}
	}
	if code, out := h.plan(); code != 0 {
		t.Errorf("plan after convergence: exit %d, want 0 (nothing due)\n%s", code, out)
	}
}
