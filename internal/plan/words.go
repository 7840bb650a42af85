package plan

import (
	"strings"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
)

// words are what plans, apply's output and promote call drsctl's steps on
// one engine: SQL Server's own terms (backup log … WITH NORECOVERY,
// RESTORE WITH RECOVERY, RESTORING) or PostgreSQL's (base backup, WAL,
// replay, pg_promote(), default_transaction_read_only). The steps are the
// same; only the names change, so an operator reads the terms of the
// server they run.
type words struct {
	pg bool
	// Verbs.
	backupFull, backupLog, backupTail string
	restoreFull, restoreLog, replace  string
	promotePlanned, promoteFailover   string
	// kinds names the artifact kinds: "(new log backup)", "(new WAL backup)".
	kinds map[artifact.Kind]string
	// recover is what brings a standby online; tail is the switchover's
	// last backup of the primary; tailPrimary says what that leaves the
	// primary (in "the primary database is left …").
	recover, tail, ofTail, tailPrimary string
	// tailReason is why a switchover backs up the primary last; tailOnline
	// why it cannot when the standby is already online; recoverByHand how
	// an operator recovers a standby where it stands.
	tailReason, tailOnline, recoverByHand string
	// restoresOnto says what drsctl restores onto.
	restoresOnto string
}

var sqlServerWords = &words{
	backupFull: "backup full", backupLog: "backup log", backupTail: "backup log (tail) WITH NORECOVERY",
	restoreFull: "restore full ", restoreLog: "restore log ", replace: ", REPLACE",
	promotePlanned: "promote (switchover) WITH RECOVERY", promoteFailover: "promote (failover) WITH RECOVERY",
	kinds:   map[artifact.Kind]string{artifact.Full: "full", artifact.Log: "log"},
	recover: "RESTORE WITH RECOVERY", tail: "tail-log backup", ofTail: "the tail of the log", tailPrimary: "RESTORING",
	tailReason:    "switchover: tail-log backup WITH NORECOVERY; the primary database is left RESTORING, so nothing written to it is lost",
	tailOnline:    "The tail of the log can only be restored onto a restoring standby.",
	recoverByHand: "RESTORE DATABASE … WITH RECOVERY",
	restoresOnto:  "drsctl restores only onto a RESTORING or STANDBY database.",
}

var postgresWords = &words{
	pg:         true,
	backupFull: "base backup", backupLog: "backup WAL", backupTail: "backup WAL (final), primary made read-only",
	restoreFull: "restore base backup ", restoreLog: "replay WAL ", replace: ", replacing drsctl's standby",
	promotePlanned: "promote (switchover) pg_promote()", promoteFailover: "promote (failover) pg_promote()",
	kinds:   map[artifact.Kind]string{artifact.Full: "base", artifact.Log: "WAL"},
	recover: "pg_promote()", tail: "final WAL backup", ofTail: "the primary's final WAL", tailPrimary: "read-only",
	tailReason:    "switchover: the primary is made read-only (default_transaction_read_only) and its final WAL backed up, so nothing written to it is lost",
	tailOnline:    "The primary's final WAL can only be replayed on a standby still in recovery.",
	recoverByHand: "SELECT pg_promote()",
	restoresOnto:  "drsctl replays WAL only on a standby it built itself, still in recovery.",
}

// wordsFor returns the words of an engine ("" is SQL Server's).
func wordsFor(engine string) *words {
	if engine == config.EnginePostgres {
		return postgresWords
	}
	return sqlServerWords
}

// mode is what a restore leaves the standby: SQL Server's restore option;
// a PostgreSQL standby is always a hot standby, said once, at its seed.
func (w *words) mode(k ActionKind, mode string) string {
	if !w.pg {
		return " WITH " + strings.ToUpper(mode)
	}
	if k == RestoreFull {
		return " as hot standby"
	}
	return ""
}

// lsn spells a position as the engine's server does: PostgreSQL's as
// 0/5000000, SQL Server's as the decimal it is.
func (w *words) lsn(l artifact.LSN) string {
	if w.pg {
		return l.PostgresText()
	}
	return string(l)
}

// LSNText spells a position of a database whose primary runs engine the
// way that server does (promote's and status's output).
func LSNText(engine string, l artifact.LSN) string { return wordsFor(engine).lsn(l) }

func (a *Action) words() *words { return wordsFor(a.Engine) }

func (d *dbPlan) words() *words { return wordsFor(d.p.Engine) }
