package state

import (
	"errors"
	"io/fs"
	"testing"
)

func TestNameState_NamesTheStateOnce(t *testing.T) {
	const where = "/var/lib/drs/drs.state.json"
	for _, c := range []struct{ in, want string }{
		{"read state " + where + ": state file is not valid JSON", "read state " + where + ": state file is not valid JSON"},
		{"read state: open " + where + ": permission denied", "read state: open " + where + ": permission denied"},
		{"open " + where + ": permission denied", "read state: open " + where + ": permission denied"},
		{"read state: unexpected EOF", "read state " + where + ": unexpected EOF"},
		{"the lease was lost", "read state " + where + ": the lease was lost"},
	} {
		err := NameState("read", where, errors.Join(errors.New(c.in)))
		if got := err.Error(); got != c.want {
			t.Errorf("%q → %q, want %q", c.in, got, c.want)
		}
	}
	if !errors.Is(NameState("write", where, fs.ErrPermission), fs.ErrPermission) {
		t.Error("NameState lost the wrapped error")
	}
	if NameState("read", where, nil) != nil {
		t.Error("nil became an error")
	}
}
