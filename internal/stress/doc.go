// Package stress holds drsctl's crash tests; it has no code of its own
// outside them.
//
// They build the real drsctl binary (with -race when the tests run with
// it), start SQL Server simulators (sqlsim) for a primary with three
// databases (one written to, one whose name needs quoting, one idle), a
// STANDBY target, a NORECOVERY target and a copy-only target with file://
// storage, and run `drsctl apply -auto-approve` as a subprocess that dies:
//
//   - TestCrash, the crash harness: each trial is a fresh world, a seeded
//     number of clean applies (rows written; sometimes a log chain restart
//     on the primary or a DBA's log backup into the backup folder), then an
//     apply SIGKILLed at a seeded moment (a quarter of the trials kill the
//     first apply after it too), then applies until every target caught
//     up. After every trial: the ledger reads; no restore was repeated or
//     skipped (the standbys' msdb restore history: gap-free, no backup
//     restored twice, one seed per chain restart, each standby where the
//     primary's newest log backup ends, the ledger saying the same); east's
//     rows equal the primary's; every copy-only target holds a restorable
//     chain; no file under a final name is partial at any destination or in
//     the backup folder (SHA-256 and size against the backup folder and the
//     ledger); every backup in the backup folder is in the ledger; the lock
//     is released. With the SMB, S3 and Azure Blob test servers configured
//     (scripts/testenv.sh, .testenv/env), half the trials also ship to them.
//   - TestFailpoints: for every failpoint (internal/failpoint) a scenario
//     that reaches it with DRSCTL_FAILPOINT set, then applies without it
//     and checks that the applies after recorded what the server or storage
//     had already done (adopt, record) instead of doing it again.
//
// Flags: -stress.trials N (default 10; make stress runs 100),
// -stress.first S (first seed), -stress.seed S (one trial: replay a
// failure), -stress.parallel P, -stress.race, -stress.show (every run's
// output).
//
// A failing trial prints its seed, where the kill landed and every drsctl
// run's output; `go test ./internal/stress -run TestCrash -stress.seed S -v`
// replays it (all but the instant the kill lands, which depends on timing).
//
// A SIGKILLed apply leaves its lock behind. A run on the same host takes a
// dead holder's lock over at once; should a run still find the state
// locked, the harness removes the lock with `drsctl force-unlock ID` (the ID
// from the lock file) and counts it.
package stress
