package cli_test

import (
	"os"
	"testing"
)

// useTestStorageCredentials points the storage SDKs' usual environment at
// the test servers (testenv's env) and clears what could override it: the
// gocloud openers read the process environment, as drsctl's users' do.
func useTestStorageCredentials(t *testing.T, env map[string]string) {
	t.Helper()
	if pw, ok := env["DRSCTL_TEST_SMB_PASSWORD"]; ok {
		t.Setenv("DRSCTL_SMB_PASSWORD", pw)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", env["DRSCTL_TEST_S3_ACCESS_KEY"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["DRSCTL_TEST_S3_SECRET_KEY"])
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AZURE_STORAGE_ACCOUNT", env["DRSCTL_TEST_AZURE_ACCOUNT"])
	t.Setenv("AZURE_STORAGE_KEY", env["DRSCTL_TEST_AZURE_KEY"])
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"} {
		t.Setenv(k, "") // restored after the test...
		os.Unsetenv(k)  // ...and absent during it
	}
}
