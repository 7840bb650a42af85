package smbblob

import (
	"fmt"
	"strings"
)

// logonError is the server's refusal of a logon (STATUS_LOGON_FAILURE), with
// what the operator can check: the user, and the variable the password
// comes from and whether it was set. It never holds the password.
// ErrorCode and ErrorAs see the server's error through Unwrap.
type logonError struct {
	err         error
	user        string
	domain      string
	passwordEnv string
	passwordSet bool
}

func (e *logonError) Error() string {
	var b strings.Builder
	user := e.user
	if e.domain != "" {
		user = e.domain + `\` + e.user
	}
	switch {
	case user == "":
		fmt.Fprintf(&b, "the SMB server refused the logon (no user: put one in the URL, smb://USER@host/share, or set %s)", EnvUser)
	default:
		fmt.Fprintf(&b, "the SMB server refused the logon of user %q", user)
	}
	switch {
	case e.passwordEnv == "":
	case !e.passwordSet:
		fmt.Fprintf(&b, ": the password comes from the environment variable %s, which is not set (or empty) in drsctl's environment; set it, or name another variable with ?password_env=NAME in the URL", e.passwordEnv)
	default:
		fmt.Fprintf(&b, ": the password comes from the environment variable %s, which is set: check its value and the user", e.passwordEnv)
	}
	fmt.Fprintf(&b, " (%v)", e.err)
	return b.String()
}

func (e *logonError) Unwrap() error { return e.err }
