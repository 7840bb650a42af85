package state

import (
	"fmt"
	"strings"
)

// NameState returns err as "OP state WHERE: …" where WHERE is the state's
// Describe(), saying WHERE once however many layers name it: an error that
// already names the state is only given the operation, when it lacks it,
// and a bare "OP state: …" from a lower layer becomes "OP state WHERE: …"
// rather than "OP state WHERE: OP state: …". Wrapping is kept (errors.Is
// and errors.As see err). nil stays nil.
func NameState(op, where string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	verb := op + " state"
	switch {
	case where != "" && strings.Contains(msg, where):
		if strings.HasPrefix(msg, verb) || strings.HasPrefix(msg, "state ") || strings.HasPrefix(msg, "lock state") {
			return err
		}
		return &named{msg: verb + ": " + msg, err: err}
	case strings.HasPrefix(msg, verb+": "):
		return &named{msg: fmt.Sprintf("%s %s: %s", verb, where, strings.TrimPrefix(msg, verb+": ")), err: err}
	}
	return &named{msg: fmt.Sprintf("%s %s: %s", verb, where, msg), err: err}
}

type named struct {
	msg string
	err error
}

func (n *named) Error() string { return n.msg }
func (n *named) Unwrap() error { return n.err }
