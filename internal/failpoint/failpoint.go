// Package failpoint lets tests stop drsctl dead at a named step, the way a
// SIGKILL or a power cut would: no deferred function runs, no lock is
// released, nothing is flushed. It exists for the crash tests
// (internal/stress), which prove that every gap between "done on a server or
// in storage" and "written to the ledger" is noticed and recorded by the
// next apply instead of being repeated or lost.
//
// The environment variable DRSCTL_FAILPOINT names the steps, read once when
// the process starts:
//
//	DRSCTL_FAILPOINT=name[@N][,name[@N]…]
//
// At the Nth time (default the first) the process reaches a named step it
// writes one line to stderr and exits with ExitCode. An unknown name ends
// the process at start with exit code 2, so a misspelt failpoint cannot
// silently never fire. Unset (as always outside tests), Hit costs one
// pointer comparison.
//
// The steps are the constants below; each one's comment says where it sits.
package failpoint

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// EnvVar names the failpoints to arm. For tests only.
const EnvVar = "DRSCTL_FAILPOINT"

// ExitCode is the exit status of a process stopped at a failpoint: none of
// drsctl's documented codes (0–3), so a test tells it from a failure.
const ExitCode = 86

// The failpoints, one for every gap between a server or storage action and
// its ledger write in internal/apply.
const (
	// BackupBeforeChecksum: the server reported a backup done (its file is
	// in the backup folder, msdb knows it); drsctl has not read the file
	// back. The next apply adopts the file.
	BackupBeforeChecksum = "backup-before-checksum"
	// BackupBeforeRecord: the backup's size and SHA-256 are known; the
	// ledger does not have the artifact yet. The next apply adopts it.
	BackupBeforeRecord = "backup-before-record"
	// RestartBeforeBackup: the ledger records that the database's chain
	// restarts (Restart); the full backup that begins the new fork has not
	// been asked for. The next apply takes it.
	RestartBeforeBackup = "restart-before-backup"
	// AdoptBeforeRecord: an out-of-band backup in the backup folder was read
	// back; the ledger does not have it yet. The next apply adopts it again.
	AdoptBeforeRecord = "adopt-before-record"
	// ShipBeforeRecord: the copy is complete at one target's destination
	// (under its final name); the ledger does not record it. Hit once per
	// destination of the fan-out, before each one's record: @2 stops with
	// the first destination's record made (in memory; it may not be on disk
	// yet, as a finished action's record waits to share a write) and the
	// second's not.
	ShipBeforeRecord = "ship-before-record"
	// VerifyBeforeRecord: the copy at the destination was read back and
	// matched; the ledger does not say it is verified.
	VerifyBeforeRecord = "verify-before-record"
	// SeedBeforeRestore: the ledger records a seed as started (Seeding);
	// RESTORE DATABASE has not been sent.
	SeedBeforeRestore = "seed-before-restore"
	// RestoreFullBeforeRecord: RESTORE DATABASE (a seed) completed on the
	// target; the ledger does not know. The next apply records where the
	// target stands.
	RestoreFullBeforeRecord = "restore-full-before-record"
	// RestoreLogBeforeRecord: RESTORE LOG completed on the target; the
	// ledger does not know. The next apply records where the target stands.
	RestoreLogBeforeRecord = "restore-log-before-record"
	// PruneBeforeRecord: the file was deleted from the backup folder or a
	// destination; the ledger still lists it.
	PruneBeforeRecord = "prune-before-record"
	// PromoteBeforeRecord: RESTORE … WITH RECOVERY completed on the target;
	// the ledger does not record the promotion.
	PromoteBeforeRecord = "promote-before-record"
)

// Names lists every failpoint, sorted.
func Names() []string {
	n := []string{
		BackupBeforeChecksum, BackupBeforeRecord, RestartBeforeBackup, AdoptBeforeRecord,
		ShipBeforeRecord, VerifyBeforeRecord, SeedBeforeRestore, RestoreFullBeforeRecord,
		RestoreLogBeforeRecord, PruneBeforeRecord, PromoteBeforeRecord,
	}
	sort.Strings(n)
	return n
}

// armed maps a failpoint to the hit at which it fires; nil when the
// environment names none.
var armed = mustParse(os.Getenv(EnvVar))

var (
	mu   sync.Mutex
	hits = map[string]int{}
)

// Hit marks that the process reached the named step. When the step is
// armed and this is the hit it waits for, the process exits at once with
// ExitCode.
func Hit(name string) {
	if armed == nil {
		return
	}
	at, ok := armed[name]
	if !ok {
		return
	}
	mu.Lock()
	hits[name]++
	n := hits[name]
	mu.Unlock()
	if n == at {
		fmt.Fprintf(os.Stderr, "drsctl: stopped at failpoint %s (hit %d; %s is for tests)\n", name, n, EnvVar)
		os.Exit(ExitCode)
	}
}

func mustParse(v string) map[string]int {
	m, err := Parse(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "drsctl: %s: %v\n", EnvVar, err)
		os.Exit(2)
	}
	return m
}

// Parse reads a DRSCTL_FAILPOINT value: the failpoints it arms, each with
// the hit at which it fires. Empty arms none (nil).
func Parse(v string) (map[string]int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	known := map[string]bool{}
	for _, n := range Names() {
		known[n] = true
	}
	m := map[string]int{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		name, count, hasCount := strings.Cut(f, "@")
		at := 1
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("failpoint %q: the count after @ must be a positive number", f)
			}
			at = n
		}
		if !known[name] {
			return nil, fmt.Errorf("unknown failpoint %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		m[name] = at
	}
	return m, nil
}
