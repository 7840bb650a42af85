package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// urlCheckConfig is a valid configuration whose lines 2, 6, 12, 23 and 26
// are filled in by each case: the state url, the backup folder url, the
// primary's connection, the destination url and the target's connection.
const urlCheckConfig = `state {
  url = %s
}

backup_folder "share" {
  url         = %s
  server_path = "\\\\fs01\\drs\\sales"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = %s
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}

target "dr" {
  primary    = primary.sales
  destination {
    url         = %s
    server_path = "s3://s3.example/dr/sales"
  }
  connection = %s
}
`

type urlCheckCase struct {
	state, folder, primaryDSN, dest, targetDSN string
}

func (c urlCheckCase) text() string {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return fmt.Sprintf(urlCheckConfig,
		or(c.state, `"drs.state.json"`),
		or(c.folder, `"smb://drs@fs01/drs/sales?password_env=SALES_SMB"`),
		or(c.primaryDSN, `env("SALES_DSN")`),
		or(c.dest, `"s3://dr-bucket/sales?region=eu-west-1&stall_timeout=45s"`),
		or(c.targetDSN, `env("DR_DSN")`))
}

// TestValidate_URLChecks shows that validate (Load without the
// environment) refuses, at the attribute's line, what the storage drivers
// and the SQL Server driver would refuse only when apply opens them — after
// a full backup was taken, for a destination.
func TestValidate_URLChecks(t *testing.T) {
	if _, diags := Load(writeConfigFile(t, urlCheckCase{}.text()), testOptions); len(diags) != 0 {
		t.Fatalf("the base configuration is not valid:%s", diagsText(diags))
	}
	tests := []struct {
		name string
		c    urlCheckCase
		line int
		// want are substrings of "Summary: Detail".
		want []string
		// never must not appear in the message (a secret).
		never string
	}{
		{"smb password in backup folder url", urlCheckCase{folder: `"smb://bob:hunter2@fs01/drs/sales"`}, 6,
			[]string{"Password in URL", "DRSCTL_SMB_PASSWORD", "smb://user@host/share"}, "hunter2"},
		{"smb password in destination url", urlCheckCase{dest: `"smb://bob:hunter2@fs02/drs/sales"`}, 23,
			[]string{"Password in URL", "DRSCTL_SMB_PASSWORD"}, "hunter2"},
		{"s3 keys in destination url", urlCheckCase{dest: `"s3://AKIAX:wJalr@dr-bucket/sales"`}, 23,
			[]string{"Credentials in URL", "AWS_ACCESS_KEY_ID", "not in the URL"}, "wJalr"},
		{"s3 keys in state url", urlCheckCase{state: `"s3://AKIAX:wJalr@state-bucket/drs"`}, 2,
			[]string{"Credentials in URL", "AWS_SECRET_ACCESS_KEY", "plain file path"}, "wJalr"},
		{"azblob key in state url", urlCheckCase{state: `"azblob://acct:c2VjcmV0@state/drs"`}, 2,
			[]string{"Credentials in URL", "AZURE_STORAGE_KEY"}, "c2VjcmV0"},
		{"file url with a password", urlCheckCase{folder: `"file://bob:hunter2@/var/backups"`}, 6,
			[]string{"Credentials in URL", "takes no credentials"}, "hunter2"},
		{"password as a query parameter", urlCheckCase{folder: `"smb://fs01/drs/sales?password=hunter2"`}, 6,
			[]string{"Credentials in URL", `"password"`, "DRSCTL_SMB_PASSWORD"}, "hunter2"},
		{"secret key as an s3 parameter", urlCheckCase{dest: `"s3://dr-bucket/sales?secret_access_key=wJalr"`}, 23,
			[]string{"Credentials in URL", "AWS_SECRET_ACCESS_KEY"}, "wJalr"},
		{"misspelt s3 parameter", urlCheckCase{dest: `"s3://dr-bucket/sales?regoin=eu-west-1"`}, 23,
			[]string{"Unknown URL parameter", `Unknown parameter "regoin" for an s3:// URL. Did you mean "region"?`}, ""},
		{"unknown smb parameter", urlCheckCase{folder: `"smb://fs01/drs/sales?workgroup=CORP"`}, 6,
			[]string{"Unknown URL parameter", `"workgroup" for an smb:// URL`, "domain, password_env"}, ""},
		{"s3 parameter on an azblob url", urlCheckCase{dest: `"azblob://dr/sales?region=westeurope"`}, 23,
			[]string{"Unknown URL parameter", `"region" for an azblob:// URL`}, ""},
		{"stall_timeout on a file url", urlCheckCase{folder: `"file:///var/backups?stall_timeout=30s"`}, 6,
			[]string{"Unknown URL parameter", `"stall_timeout" for a file:// URL`}, ""},
		{"unknown parameter in state url", urlCheckCase{state: `"s3://state-bucket/drs?regoin=eu-west-1"`}, 2,
			[]string{"Unknown URL parameter", `Did you mean "region"?`, "plain file path"}, ""},
		{"bad boolean", urlCheckCase{dest: `"s3://dr-bucket/sales?disable_https=yes-please"`}, 23,
			[]string{"Invalid URL parameter", `"disable_https" of an s3:// URL must be true or false`}, ""},
		{"bad stall_timeout", urlCheckCase{dest: `"s3://dr-bucket/sales?stall_timeout=30"`}, 23,
			[]string{"Invalid URL parameter", "positive duration such as 30s"}, ""},
		{"endpoint without a scheme", urlCheckCase{dest: `"s3://dr-bucket/sales?endpoint=minio:9000"`}, 23,
			[]string{"Invalid URL parameter", "http://minio.internal:9000"}, ""},
		{"endpoint port out of range", urlCheckCase{dest: `"s3://dr-bucket/sales?endpoint=http://minio:99999"`}, 23,
			[]string{"Invalid URL parameter", "port 99999 that is out of range 1–65535"}, ""},
		{"azure protocol", urlCheckCase{dest: `"azblob://dr/sales?protocol=ftp"`}, 23,
			[]string{"Invalid URL parameter", `"protocol" of an azblob:// URL must be "http" or "https"`}, ""},
		{"password_env holding a password", urlCheckCase{folder: `"smb://fs01/drs/sales?password_env=hunter2!"`}, 6,
			[]string{"Invalid URL parameter", "name of an environment variable"}, "hunter2"},
		{"repeated parameter", urlCheckCase{dest: `"s3://dr-bucket/sales?region=eu-west-1&region=us-east-1"`}, 23,
			[]string{"Repeated URL parameter", `"region" is given 2 times`}, ""},
		{"smb port out of range", urlCheckCase{folder: `"smb://fs01:99999/drs/sales"`}, 6,
			[]string{"Invalid port", "port 99999 that is out of range 1–65535"}, ""},
		{"smb port zero", urlCheckCase{folder: `"smb://fs01:0/drs/sales"`}, 6,
			[]string{"Invalid port", "port 0 that is out of range"}, ""},
		{"empty smb port", urlCheckCase{folder: `"smb://fs01:/drs/sales"`}, 6,
			[]string{"Invalid port", "port that is empty"}, ""},
		{"port on an s3 bucket", urlCheckCase{dest: `"s3://minio.internal:9000/sales"`}, 23,
			[]string{"Port in s3:// URL", "bucket name, which has no port", "?endpoint=http://HOST:PORT"}, ""},
		{"port on an azblob container", urlCheckCase{dest: `"azblob://127.0.0.1:10000/sales"`}, 23,
			[]string{"Port in azblob:// URL", "localemu=true"}, ""},
		{"unknown scheme", urlCheckCase{dest: `"sftp://fs01/drs"`}, 23,
			[]string{"Unsupported URL scheme", `"sftp"`, "file, smb, s3, azblob"}, ""},
		{"misspelt scheme", urlCheckCase{dest: `"azblb://dr/sales"`}, 23,
			[]string{"Unsupported URL scheme", `Did you mean "azblob"?`}, ""},
		{"empty bucket", urlCheckCase{dest: `"s3:///sales"`}, 23,
			[]string{"URL has no host", "s3://host/path"}, ""},
		{"port without a host", urlCheckCase{folder: `"smb://:445/drs"`}, 6,
			[]string{"URL has no host"}, ""},
		{"smb url without a share", urlCheckCase{folder: `"smb://fs01"`}, 6,
			[]string{"URL has no share", "smb://[user@]host[:port]/share/dir"}, ""},
		{"smb directory with ..", urlCheckCase{folder: `"smb://fs01/drs/../other"`}, 6,
			[]string{"Invalid smb URL", `".."`}, ""},
		{"smb state", urlCheckCase{state: `"smb://fs01/drs/state"`}, 2,
			[]string{"Unsupported state URL scheme", "s3:// or azblob://", "Mount the share"}, ""},
		{"primary connection with an unknown scheme", urlCheckCase{primaryDSN: `"sqlsrv://drs:Pw-1@sql01:1433?database=master"`}, 12,
			[]string{"Unsupported connection string scheme", "sqlsrv://", "localhost:1433", "sqlserver://USER@HOST:PORT"}, "Pw-1"},
		{"target connection with an unknown scheme", urlCheckCase{targetDSN: `"mssql://drs:Pw-2@sql02"`}, 26,
			[]string{"Unsupported connection string scheme", "mssql://"}, "Pw-2"},
		{"connection scheme in capitals", urlCheckCase{primaryDSN: `"SQLServer://drs@sql01"`}, 12,
			[]string{"Unsupported connection string scheme", "lower case"}, ""},
		{"connection port out of range", urlCheckCase{primaryDSN: `"sqlserver://drs:Pw-3@sql01:99999"`}, 12,
			[]string{"Invalid port", "port 99999 that is out of range 1–65535"}, "Pw-3"},
		{"connection without a server", urlCheckCase{primaryDSN: `"sqlserver://drs:Pw-4@/?database=master"`}, 12,
			[]string{"Connection string has no server"}, "Pw-4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfigFile(t, tt.c.text())
			_, diags := Load(path, testOptions)
			errs := errorsOnly(diags)
			if len(errs) != 1 {
				t.Fatalf("want one error, got %d:%s", len(errs), diagsText(diags))
			}
			d := errs[0]
			if d.Subject == nil || d.Subject.Filename != path || d.Subject.Start.Line != tt.line {
				t.Errorf("error at %v, want %s:%d:%s", d.Subject, path, tt.line, diagsText(errs))
			}
			msg := d.Summary + ": " + d.Detail
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			if tt.never != "" && strings.Contains(msg, tt.never) {
				t.Errorf("message shows the secret %q:\n%s", tt.never, msg)
			}
		})
	}
}

// TestValidate_ConnectionFromEnv shows the connection check at plan time: an
// env() connection is unknown while validating in CI (nothing to say), and
// checked like a literal once the variable is set.
func TestValidate_ConnectionFromEnv(t *testing.T) {
	path := writeConfigFile(t, urlCheckCase{}.text())
	if _, diags := Load(path, testOptions); len(diags) != 0 {
		t.Fatalf("unset variables: want no diagnostics, got:%s", diagsText(diags))
	}
	opts := testOptions
	opts.Getenv = mapEnv(map[string]string{
		"SALES_DSN": "sqlserver://drs:Pw-5@sql01?database=master",
		"DR_DSN":    "sqlsrv://drs:Pw-6@sql02",
	})
	_, diags := Load(path, opts)
	errs := errorsOnly(diags)
	if len(errs) != 1 || errs[0].Subject == nil || errs[0].Subject.Start.Line != 26 ||
		!strings.Contains(errs[0].Detail, "sqlsrv://") || strings.Contains(diagsText(diags), "Pw-") {
		t.Fatalf("want one error at line 26 naming sqlsrv:// and no password, got:%s", diagsText(diags))
	}
	// ADO and ODBC strings are not URLs: nothing to say about a scheme.
	opts.Getenv = mapEnv(map[string]string{
		"SALES_DSN": "server=sql01,1433;user id=drs;password=Pw://7",
		"DR_DSN":    "odbc:server=sql02;user id=drs;password=Pw-8",
	})
	if _, diags := Load(path, opts); len(diags) != 0 {
		t.Fatalf("ADO and ODBC strings: want no diagnostics, got:%s", diagsText(diags))
	}
}

func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	return filepath.Join(writeConfig(t, map[string]string{"main.drs.hcl": text}), "main.drs.hcl")
}
