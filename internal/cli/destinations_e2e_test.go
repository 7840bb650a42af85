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

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/testenv"
)

// TestSQLServer_FourDestinationKinds ships from one primary to a target per
// destination kind: a file:// standby, an smb:// standby (the simulator
// restores from the share's directory, as a Windows standby would from its
// UNC path), and copy-only targets in S3 and Azure Blob. Then it flips one
// byte of one shipped copy and checks that only that copy is shipped again.
func TestSQLServer_FourDestinationKinds(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_SMB_ADDR", "DRSCTL_TEST_SMB_SHARE", "DRSCTL_TEST_SMB_USER", "DRSCTL_TEST_SMB_PASSWORD", "DRSCTL_TEST_SMB_DIR",
		"DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	ctx := context.Background()
	unique := fmt.Sprintf("drsctl-e2e-%d", time.Now().UnixNano())

	useTestStorageCredentials(t, env)

	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/sales?" + s3q.Encode()
	azURL := "azblob://" + unique + "/sales?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	smbURL := (&url.URL{Scheme: "smb", User: url.User(env["DRSCTL_TEST_SMB_USER"]), Host: env["DRSCTL_TEST_SMB_ADDR"],
		Path: "/" + env["DRSCTL_TEST_SMB_SHARE"] + "/" + unique}).String()
	smbDir := filepath.Join(env["DRSCTL_TEST_SMB_DIR"], unique)
	t.Cleanup(func() { os.RemoveAll(smbDir) })

	s3b, _ := createBucketAndContainer(t, s3URL, azURL)

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
target "smbdr" {
  primary      = primary.sales
  connection   = env("WEST_DSN")
  restore_mode = "norecovery"
  data_dir     = "%[1]s/west-data"
  destination {
    url         = %[2]q
    server_path = %[3]q
  }
}
target "s3vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination {
    url         = %[4]q
    part_size   = "5MiB"
    concurrency = 2
  }
}
target "azvault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = %[5]q }
}
`, h.dir, smbURL, smbDir, s3URL, azURL)
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
	if code := h.apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two')")
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("log apply exit %d", code)
	}
	if got := h.rows(h.east, "Sales"); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("east rows = %v", got)
	}

	// Every artifact is at every destination with the checksum of the
	// backup as drsctl read it from the backup folder.
	st := h.state()
	arts := st.Primaries["sales"].Databases["Sales"].Artifacts
	if len(arts) != 2 {
		t.Fatalf("artifacts: %d", len(arts))
	}
	for _, tn := range []string{"east", "smbdr", "s3vault", "azvault"} {
		td := st.Targets[tn].Databases["Sales"]
		for _, a := range arts {
			c := td.Copies[a.ID]
			if c == nil || c.SHA256 != a.SHA256 || c.VerifiedAt == nil {
				t.Errorf("%s: copy of %s = %+v, want verified with %s", tn, a.ID, c, a.SHA256)
			}
		}
	}
	attrs, err := s3b.Attributes(ctx, arts[0].Key)
	if err != nil || attrs.Metadata["sha256"] != arts[0].SHA256 {
		t.Errorf("S3 object metadata sha256 = %v (%v), want %s", attrs, err, arts[0].SHA256)
	}

	// Flip one byte of the full backup's copy on the share.
	full := arts[0]
	p := filepath.Join(smbDir, filepath.FromSlash(full.Key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (3, N'three')")
	code := h.envFor().Plan(ctx, h.globals(), cli.PlanOptions{Refresh: true})
	out := h.stdout.String()
	if code != 0 || !strings.Contains(out, "ship "+full.ID) || strings.Count(out, "ship "+full.ID) != 1 {
		t.Fatalf("plan must re-ship the damaged copy once (exit %d):\n%s%s", code, out, h.stderr.String())
	}
	if !strings.Contains(section(out, `target "smbdr"`), "ship "+full.ID) {
		t.Errorf("the re-ship must be for target smbdr only:\n%s", out)
	}
	if code := h.apply(); code != 0 {
		t.Fatalf("repair apply exit %d", code)
	}
	fixed, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	if string(fixed) != string(b) {
		t.Error("the copy on the share was not repaired")
	}
	st = h.state()
	if c := st.Targets["smbdr"].Databases["Sales"].Copies[full.ID]; c == nil || c.VerifiedAt == nil {
		t.Errorf("repaired copy not verified: %+v", c)
	}
}
