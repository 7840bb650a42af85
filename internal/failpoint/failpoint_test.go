package failpoint

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]int
		err      string
	}{
		{name: "unset", in: "", want: nil},
		{name: "one", in: "ship-before-record", want: map[string]int{ShipBeforeRecord: 1}},
		{name: "several with counts and spaces", in: " backup-before-record@3 , prune-before-record ",
			want: map[string]int{BackupBeforeRecord: 3, PruneBeforeRecord: 1}},
		{name: "unknown name", in: "ship-before-recrod", err: `unknown failpoint "ship-before-recrod"`},
		{name: "bad count", in: "ship-before-record@0", err: "positive number"},
		{name: "count not a number", in: "ship-before-record@x", err: "positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestHit runs this test binary again with a failpoint armed: the process
// must exit with ExitCode at the armed hit and not before.
func TestHit(t *testing.T) {
	if os.Getenv("FAILPOINT_TEST_CHILD") != "" {
		for i := 1; i <= 3; i++ {
			Hit(VerifyBeforeRecord) // not armed: never exits
			Hit(ShipBeforeRecord)
			os.Stdout.WriteString("passed hit " + string(rune('0'+i)) + "\n")
		}
		os.Exit(0)
	}
	for _, tt := range []struct {
		env, wantOut string
		wantCode     int
	}{
		{env: "", wantOut: "passed hit 3", wantCode: 0},
		{env: ShipBeforeRecord, wantOut: "", wantCode: ExitCode},
		{env: ShipBeforeRecord + "@3", wantOut: "passed hit 2", wantCode: ExitCode},
		{env: "no-such-step", wantOut: "", wantCode: 2},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHit$")
		cmd.Env = append(os.Environ(), "FAILPOINT_TEST_CHILD=1", EnvVar+"="+tt.env)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
			t.Errorf("%s=%q: exit %d, want %d\n%s", EnvVar, tt.env, code, tt.wantCode, out)
		}
		if tt.wantOut != "" && !strings.Contains(string(out), tt.wantOut) {
			t.Errorf("%s=%q: output lacks %q:\n%s", EnvVar, tt.env, tt.wantOut, out)
		}
		if tt.wantCode == ExitCode && (!strings.Contains(string(out), "stopped at failpoint "+ShipBeforeRecord) || strings.Contains(string(out), "passed hit 3")) {
			t.Errorf("%s=%q: did not stop at the armed hit:\n%s", EnvVar, tt.env, out)
		}
	}
}
