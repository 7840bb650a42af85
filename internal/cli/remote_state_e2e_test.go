package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/testenv"
)

// Sharded runners on one remote state: several drsctl processes at once,
// each applying its own primary (-target), all against one ledger in S3 or
// Azure Blob. They take turns through the state lock (-lock-timeout);
// one is killed while it holds the lock and the next takes it over.

const shards = 4

const shardConfig = `
backup_folder "share" {
  url         = "file://{{DIR}}/share"
  server_path = "{{DIR}}/share"
}
{{PRIMARIES}}`

const shardBlock = `
primary "p{{N}}" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["DB{{N}}"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target "t{{N}}" {
  primary      = primary.p{{N}}
  connection   = env("DR_DSN")
  restore_mode = "norecovery"
  data_dir     = "{{DIR}}/dr-data"
  destination { url = "file://{{DIR}}/t{{N}}" }
}
`

func buildDrsctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "drsctl")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-race", "-o", bin, "github.com/drsctl/drsctl/cmd/drsctl").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built drsctl in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

func TestRemoteState_ShardedRunners(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, env)
	unique := fmt.Sprintf("drsctl-shards-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/drs/state?" + s3q.Encode()
	azURL := "azblob://" + unique + "/drs/state?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	createBucketAndContainer(t, s3URL, azURL)
	bin := buildDrsctl(t)
	for _, be := range []struct{ name, url string }{{"s3", s3URL}, {"azblob", azURL}} {
		t.Run(be.name, func(t *testing.T) { runShards(t, bin, be.url) })
	}
}

type shardRun struct {
	shard  int
	code   int
	out    string
	took   time.Duration
	killed bool
}

func runShards(t *testing.T, bin, stateURL string) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{"share", "dr-data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sims := map[string]*sqlsim.Server{}
	for _, name := range []string{"primary", "dr"} {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, name+"-sim"), Name: strings.ToUpper(name),
			LSNBase: "98765432109876543210000"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sims[name] = s
	}
	primarySQL := func(q string) {
		t.Helper()
		db, err := sql.Open("sqlserver", sims["primary"].DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var blocks strings.Builder
	for n := 1; n <= shards; n++ {
		primarySQL(fmt.Sprintf("CREATE DATABASE [DB%d]", n))
		blocks.WriteString(strings.ReplaceAll(shardBlock, "{{N}}", fmt.Sprint(n)))
	}
	cfg := strings.ReplaceAll(strings.ReplaceAll(shardConfig, "{{PRIMARIES}}", blocks.String()), "{{DIR}}", dir)
	if err := os.WriteFile(filepath.Join(dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	baseEnv := append(os.Environ(), "PRIMARY_DSN="+sims["primary"].DSN(""), "DR_DSN="+sims["dr"].DSN(""))
	store, err := dblob.OpenStateStore(ctx, stateURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	remote := state.NewRemote(store, state.RemoteOptions{})

	drsctl := func(extraEnv []string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"-chdir", dir, "-no-color", "-state", stateURL}, args...)...)
		cmd.Env = append(append([]string{}, baseEnv...), extraEnv...)
		cmd.Stdin = strings.NewReader("")
		return cmd
	}
	apply := func(shard int, extraEnv []string, started chan<- *exec.Cmd) shardRun {
		var out bytes.Buffer
		cmd := drsctl(extraEnv, "apply", "-auto-approve", "-target", fmt.Sprintf("p%d", shard), "-lock-timeout", "3m")
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return shardRun{shard: shard, code: -1}
		}
		if started != nil {
			started <- cmd
		}
		err := cmd.Wait()
		r := shardRun{shard: shard, code: cmd.ProcessState.ExitCode(), out: out.String(), took: time.Since(start)}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.killed = true
		} else if err != nil && r.code == 0 {
			r.code = -1
		}
		return r
	}

	const rounds = 3
	var takeOvers int
	for round := 1; round <= rounds; round++ {
		for n := 1; n <= shards; n++ {
			primarySQL(fmt.Sprintf("INSERT INTO [DB%d].dbo.drs_probe (id, note) VALUES (%d, N'round %d')", n, round, round))
		}
		waitLogDue()
		// In round 2, shard 1 takes the lock first and is killed (-9)
		// while it holds it: the others, waiting, take it over.
		victim := 0
		var victimCmd chan *exec.Cmd
		var victimRun shardRun
		var vwg sync.WaitGroup
		if round == 2 {
			victim = 1
			victimCmd = make(chan *exec.Cmd, 1)
			vwg.Add(1)
			go func() {
				defer vwg.Done()
				victimRun = apply(victim, []string{"DRSCTL_TEST_HOLD_LOCK=5m"}, victimCmd)
			}()
			cmd := <-victimCmd
			deadline := time.Now().Add(time.Minute)
			for {
				h, err := remote.Holder(ctx)
				if err == nil && h != nil && h.PID == cmd.Process.Pid {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("runner %d never took the lock (holder %+v, %v)", victim, h, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// A human asks who holds it.
			show, err := drsctl(nil, "force-unlock").CombinedOutput()
			if err != nil || !strings.Contains(string(show), fmt.Sprintf("(%d)", cmd.Process.Pid)) || !strings.Contains(string(show), "Operation: apply") {
				t.Errorf("force-unlock without an ID: %v\n%s", err, show)
			}
		}
		runs := make([]shardRun, shards+1)
		var wg sync.WaitGroup
		for n := 1; n <= shards; n++ {
			if n == victim {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); runs[n] = apply(n, nil, nil) }()
		}
		if victim != 0 {
			time.Sleep(500 * time.Millisecond) // the others are waiting for the lock
			h, _ := remote.Holder(ctx)
			if h == nil {
				t.Fatal("nobody holds the lock")
			}
			if err := syscall.Kill(h.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			vwg.Wait()
			if !victimRun.killed {
				t.Errorf("runner %d was not killed: exit %d\n%s", victim, victimRun.code, victimRun.out)
			}
		}
		wg.Wait()
		for n := 1; n <= shards; n++ {
			if n == victim {
				continue
			}
			r := runs[n]
			t.Logf("round %d shard %d → exit %d in %s", round, n, r.code, r.took.Round(time.Millisecond))
			if r.code != 0 {
				t.Fatalf("round %d shard %d: exit %d\n%s", round, n, r.code, r.out)
			}
			if strings.Contains(r.out, "taking it over") {
				takeOvers++
				t.Logf("round %d shard %d took the lock over:\n%s", round, n, r.out)
			}
		}
	}
	if takeOvers != 1 {
		t.Errorf("%d runners took the killed runner's lock over, want 1", takeOvers)
	}

	// One more apply per shard, all at once, with nothing new on the
	// primaries: the killed runner's shard catches up too.
	var wg sync.WaitGroup
	final := make([]shardRun, shards+1)
	for n := 1; n <= shards; n++ {
		wg.Add(1)
		go func() { defer wg.Done(); final[n] = apply(n, nil, nil) }()
	}
	wg.Wait()
	for n := 1; n <= shards; n++ {
		if final[n].code != 0 {
			t.Fatalf("final apply of shard %d: exit %d\n%s", n, final[n].code, final[n].out)
		}
	}

	st, err := remote.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ledger at serial %d; objects: %d", st.Serial, len(mustList(t, store)))
	// No lost update: every backup the primary took is in the ledger.
	backups := map[string][]string{}
	for _, b := range sims["primary"].BackupHistory() {
		if !b.Restored {
			backups[b.Database] = append(backups[b.Database], filepath.Base(b.Path))
		}
	}
	restores := map[string]int{}
	for _, r := range sims["dr"].RestoreHistory() {
		if r.Type == "D" || r.Type == "L" {
			restores[r.Database+" "+filepath.Base(r.Path)]++
		}
	}
	for n := 1; n <= shards; n++ {
		db := fmt.Sprintf("DB%d", n)
		d := st.LookupDatabase(fmt.Sprintf("p%d", n), db)
		if d == nil {
			t.Errorf("%s: not in the ledger", db)
			continue
		}
		var ledger []string
		for _, a := range d.Artifacts {
			ledger = append(ledger, filepath.Base(a.Key))
		}
		if fmt.Sprint(ledger) != fmt.Sprint(backups[db]) {
			t.Errorf("%s: the primary took %v, the ledger records %v", db, backups[db], ledger)
		}
		// Every shard converged: its standby stands where the newest backup
		// ends (the final apply's log backup is empty: nothing to restore).
		td := st.LookupTargetDatabase(fmt.Sprintf("t%d", n), db)
		if td == nil || td.Restored == nil || len(d.Artifacts) == 0 || td.Restored.LastLSN != d.Artifacts[len(d.Artifacts)-1].LastLSN {
			var arts []string
			for _, a := range d.Artifacts {
				arts = append(arts, fmt.Sprintf("%s %s-%s", a.ID, a.FirstLSN, a.LastLSN))
			}
			t.Errorf("%s: standby not at the newest backup: restored %+v; artifacts %v", db, td.Restored, arts)
		}
		if len(d.Artifacts) < rounds {
			t.Errorf("%s: %d backups for %d rounds", db, len(d.Artifacts), rounds)
		}
	}
	// No restore repeated.
	for k, c := range restores {
		if c != 1 {
			t.Errorf("restored %d times on dr: %s", c, k)
		}
	}
	if len(restores) == 0 {
		t.Error("nothing was restored")
	}
}

func mustList(t *testing.T, s *dblob.StateStore) []string {
	names, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return names
}
