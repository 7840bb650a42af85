package sqlsim

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
)

// Stall is how far a server stops answering (Server.SetStall). Each mode
// holds everything the milder ones hold.
type Stall int

const (
	// StallNone: the server answers.
	StallNone Stall = iota
	// StallLongOps: BACKUP and RESTORE go silent at their next progress
	// step and send nothing until the stall ends; every other request is
	// answered. A real server is alive but silent like this while it
	// creates and zeroes files, or between the progress messages of a large
	// restore.
	StallLongOps
	// StallRequests: logins are answered but no request is, and running
	// BACKUP/RESTORE stop where they are: a server whose workers are all
	// blocked.
	StallRequests
	// StallAll: TCP connections are accepted (the kernel does that) and
	// stay open, but nothing is answered, not even PRELOGIN: a frozen host
	// or process (a paused VM, a SIGSTOPped server) or a path that drops
	// packets once connected.
	StallAll
)

func (m Stall) String() string {
	switch m {
	case StallNone:
		return "none"
	case StallLongOps:
		return "long operations"
	case StallRequests:
		return "requests"
	case StallAll:
		return "all"
	}
	return "?"
}

// SetStall makes the server stop answering as m says, or answer again
// (StallNone). Nothing held is lost: when the stall ends, held requests and
// statements go on, unless their connection closed meanwhile (then a
// BACKUP or RESTORE is abandoned as after an attention: no file, no
// history).
func (s *Server) SetStall(m Stall) {
	s.stallMu.Lock()
	s.stall = m
	close(s.stallChanged)
	s.stallChanged = make(chan struct{})
	s.stallMu.Unlock()
	s.logf("sqlsim %s: stall %s", s.opts.Name, m)
}

// Stalled is how many handshakes, requests and statements the stall holds
// now, for tests that wait until the server has gone quiet mid-statement.
func (s *Server) Stalled() int {
	s.stallMu.Lock()
	defer s.stallMu.Unlock()
	return s.stalled
}

// errGone ends a session whose connection closed while a stall held it.
var errGone = errors.New("sqlsim: connection closed during a stall")

// hold waits while the stall mode is at least at; false when gone (the
// connection's end; nil for none) or the server's Close came first.
func (s *Server) hold(at Stall, gone <-chan struct{}) bool {
	counted := false
	defer func() {
		if counted {
			s.stallMu.Lock()
			s.stalled--
			s.stallMu.Unlock()
		}
	}()
	for {
		s.stallMu.Lock()
		m, changed := s.stall, s.stallChanged
		if m < at {
			s.stallMu.Unlock()
			return true
		}
		if !counted {
			counted = true
			s.stalled++
		}
		s.stallMu.Unlock()
		select {
		case <-changed:
		case <-gone:
			return false
		case <-s.closing:
			return false
		}
	}
}

// LimitSpace makes dir (and everything under it) a disk with free bytes
// left for the backup files this server writes: a BACKUP whose file does
// not fit fails as on a full disk (3202, operating system error 112), and
// leaves nothing. free < 0 lifts the limit. Real full disks (a small tmpfs)
// work too; this is for machines where a test cannot mount one.
func (s *Server) LimitSpace(dir string, free int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir = filepath.Clean(dir)
	if free < 0 {
		delete(s.space, dir)
		return
	}
	s.space[dir] = free
}

// takeSpace charges n bytes written at path to every limit over it, or
// fails with ENOSPC (charging nothing) when one has too little left;
// callers hold s.mu.
func (s *Server) takeSpace(path string, n int64) error {
	var over []string
	for dir, free := range s.space {
		if path == dir || strings.HasPrefix(path, dir+string(filepath.Separator)) {
			if n > free {
				return syscall.ENOSPC
			}
			over = append(over, dir)
		}
	}
	for _, dir := range over {
		s.space[dir] -= n
	}
	return nil
}

// fatalFault is one error FailFatal armed.
type fatalFault struct {
	prefix string // upper case, single-spaced
	msg    sqlMsg
}

// FailFatal arms one fatal error: the next statement (on any session)
// whose text begins with prefix, compared case-insensitively with runs of
// white space as one space ("RESTORE DATABASE", "BACKUP LOG"), is not run;
// the server sends error number at severity class with text in an ERROR
// token and closes the connection, with no DONE: the task that ran the
// statement is gone, and so is its connection. That is what SQL Server does
// with errors of severity 20 to 24 (see the package documentation); class
// is meant to be one of those.
func (s *Server) FailFatal(prefix string, number int32, class uint8, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fatal = append(s.fatal, fatalFault{prefix: normStmt(prefix), msg: sqlMsg{Number: number, State: 1, Class: class, Text: text}})
}

// takeFatal disarms and returns the first FailFatal error stmt matches.
func (s *Server) takeFatal(stmt string) (sqlMsg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fatal) == 0 {
		return sqlMsg{}, false
	}
	n := normStmt(stmt)
	for i, f := range s.fatal {
		if strings.HasPrefix(n, f.prefix) {
			s.fatal = append(s.fatal[:i:i], s.fatal[i+1:]...)
			return f.msg, true
		}
	}
	return sqlMsg{}, false
}

func normStmt(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), " ")) }

// fatalError sends m and ends the connection, as SQL Server ends the
// connection of a task that raised an error of severity 20 or more.
func (s *session) fatalError(m sqlMsg) {
	if m.Line == 0 {
		m.Line = 1
	}
	s.out.write(msgToken(tokError, m, s.srv.opts.Name, ""))
	_ = s.out.flush(false)
	s.killed = true
	s.conn.Close()
	s.srv.logf("sqlsim %s: spid %d: fatal error %d (severity %d), connection closed", s.srv.opts.Name, s.spid, m.Number, m.Class)
}
