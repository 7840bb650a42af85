package cli

import "fmt"

// Exit codes of wal-fetch, as PostgreSQL reads a restore_command's: 0 the
// file was restored, any other code below 126 "not available" (the standby
// waits and asks again). A code of 126 or more would stop the standby, so
// errors use 2 and say what went wrong on stderr, which reaches the
// standby's log.
const (
	ExitWALMissing = 1
	ExitWALError   = 2
)

// WALFetch copies one WAL file from a standby's inbox for its
// restore_command.
func (e *Env) WALFetch(dir, name, dest string) int {
	if e.FetchWAL == nil {
		fmt.Fprintln(e.Stderr, "drsctl wal-fetch: this build has no PostgreSQL engine")
		return ExitWALError
	}
	found, err := e.FetchWAL(dir, name, dest)
	switch {
	case err != nil:
		fmt.Fprintf(e.Stderr, "drsctl wal-fetch %s: %v\n", name, err)
		return ExitWALError
	case !found:
		return ExitWALMissing
	}
	return ExitOK
}
