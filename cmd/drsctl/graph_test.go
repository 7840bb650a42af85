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

// `drsctl graph` plans from the configuration and state alone: it opens no
// bucket (no S3 request, so no credential lookup or instance-metadata probe)
// and connects to no database unless -refresh asks it to.
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

	env, out, errb := testEnv()
	if code := run(context.Background(), env, []string{"-chdir", dir, "graph"}); code != 0 {
		t.Fatalf("graph: exit %d\n%s%s", code, out, errb)
	}
	if !strings.HasPrefix(out.String(), "digraph drsctl {") || !strings.Contains(out.String(), "backup full") {
		t.Errorf("graph output:\n%s", out)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("graph made %d connections to the storage endpoint", n)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr: %s", errb)
	}
}
