package smbblob

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"gocloud.dev/gcerrors"
)

// forget drops the pool's sessions and remembered password for opts' share
// and user, so that a test logs on afresh.
func forget(opts Options) {
	pool.Lock()
	defer pool.Unlock()
	for k, srv := range pool.m {
		if k.share == opts.Share && k.user == opts.User {
			delete(pool.m, k)
			srv.mu.Lock()
			for _, s := range srv.sessions {
				s.close()
			}
			srv.mu.Unlock()
		}
	}
}

// "The attempted logon is invalid" used to be all a refused logon said, with
// DRSCTL_SMB_PASSWORD unset in cron's environment. The error now names the
// user, the variable the password comes from and whether it was set — never
// its value — and is still PermissionDenied.
func TestLogonRefused_SaysWhichVariableSuppliesThePassword(t *testing.T) {
	srvOpts := serverOptions(t)
	const wrong = "not-the-Pw-42"
	for _, c := range []struct {
		name  string
		query string
		env   map[string]string
		want  string
	}{
		{"DRSCTL_SMB_PASSWORD unset", "", map[string]string{},
			"the password comes from the environment variable DRSCTL_SMB_PASSWORD, which is not set (or empty) in drsctl's environment; set it"},
		{"password_env unset", "?password_env=SALES_SMB_PW", map[string]string{EnvPassword: srvOpts.Password},
			"the password comes from the environment variable SALES_SMB_PW, which is not set (or empty)"},
		{"wrong password", "", map[string]string{EnvPassword: wrong},
			"the password comes from the environment variable DRSCTL_SMB_PASSWORD, which is set: check its value and the user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			forget(srvOpts)
			u, err := url.Parse("smb://" + srvOpts.User + "@" + srvOpts.Addr + "/" + srvOpts.Share + "/" + uniqueDir("logon") + c.query)
			if err != nil {
				t.Fatal(err)
			}
			b, err := (&URLOpener{Getenv: func(k string) string { return c.env[k] }}).OpenBucketURL(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_, err = b.List(nil).Next(context.Background())
			if err == nil {
				t.Fatal("the server accepted the logon")
			}
			msg := err.Error()
			if want := `the SMB server refused the logon of user "` + srvOpts.User + `": ` + c.want; !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
			if gcerrors.Code(err) != gcerrors.PermissionDenied {
				t.Errorf("code %v, want PermissionDenied", gcerrors.Code(err))
			}
			for _, secret := range []string{wrong, srvOpts.Password} {
				if strings.Contains(msg, secret) {
					t.Errorf("error shows a password:\n%s", msg)
				}
			}
		})
	}
	forget(srvOpts)
}
