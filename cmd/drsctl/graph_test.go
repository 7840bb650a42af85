package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// `drsctl graph` draws the topology from the configuration and the state
// alone, before any apply (no ledger) and with every server unreachable:
// it opens no bucket (no S3 request, so no credential lookup or
// instance-metadata probe) and connects to no database. Neither does
// `graph -plan` unless -refresh asks it to.
func TestGraph_TouchesNoStorage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	endpoint := "http://" + ln.Addr().String()
	q := url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
backup_folder "share" {
  url         = "s3://folder/sales?%[1]s"
  server_path = "s3://folder/sales"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "1h"
}
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "s3://vault/sales?%[1]s" }
}
target "dr" {
  primary    = primary.sales
  connection = env("DR_DSN")
  destination {
    url         = "s3://dr/sales?%[1]s"
    server_path = "s3://dr/sales"
  }
}
`, q.Encode())
	if err := os.WriteFile(filepath.Join(dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Credentials a refresh would sign its listing with (so it would reach
	// the endpoint), and an instance-metadata endpoint a probe would reach.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
	// SQL Servers that would be asked at the same listener.
	t.Setenv("PRIMARY_DSN", "sqlserver://drs:Pw-graph-1@"+ln.Addr().String()+"?database=master")
	t.Setenv("DR_DSN", "sqlserver://drs:Pw-graph-2@"+ln.Addr().String()+"?database=master")

	env, out, errb := testEnv()
	if code := run(context.Background(), env, []string{"-chdir", dir, "graph"}); code != 0 {
		t.Fatalf("graph: exit %d\n%s%s", code, out, errb)
	}
	for _, want := range []string{
		"digraph drsctl {",
		`"primary.sales" -> "backup_folder.share" [label = "backups"];`,
		`"backup_folder.share" -> "target.dr.destination" [label = "ship"];`,
		`"target.dr.destination" -> "target.dr" [label = "restore"];`,
		`"target.vault.destination" -> "target.vault" [label = "keeps"];`,
		`label = "target dr (standby, norecovery)\nSales: breach (nothing yet)", color = red];`,
		`label = "destination of vault\ns3://vault/sales"`, // no query: endpoints, keys and their variables stay out
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("graph lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "Pw-graph") || strings.Contains(out.String(), "endpoint") {
		t.Errorf("graph shows a connection string or a URL's query:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "drs.state.json")); !os.IsNotExist(err) {
		t.Errorf("graph wrote a state: %v", err)
	}
	out.Reset()
	if code := run(context.Background(), env, []string{"-chdir", dir, "graph", "-plan"}); code != 0 {
		t.Fatalf("graph -plan: exit %d\n%s%s", code, out, errb)
	}
	if !strings.HasPrefix(out.String(), "digraph drsctl {") || !strings.Contains(out.String(), "backup full") {
		t.Errorf("graph -plan output:\n%s", out)
	}
	out.Reset()
	if code := run(context.Background(), env, []string{"-chdir", dir, "graph", "-refresh"}); code != 1 || !strings.Contains(errb.String(), "-refresh applies to graph -plan") {
		t.Errorf("graph -refresh without -plan: exit %d, %s", code, errb)
	}
	errb.Reset()
	if n := conns.Load(); n != 0 {
		t.Errorf("graph made %d connections to the storage endpoint", n)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr: %s", errb)
	}
}
