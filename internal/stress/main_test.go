package stress

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	flagTrials   = flag.Int("stress.trials", 10, "crash trials TestCrash runs (make stress: 100)")
	flagFirst    = flag.Int64("stress.first", 1, "seed of the first trial; trial i uses seed first+i")
	flagSeed     = flag.Int64("stress.seed", 0, "run only the trial with this seed (replay a failure)")
	flagParallel = flag.Int("stress.parallel", 2, "trials run at once")
	flagShow     = flag.Bool("stress.show", false, "log every drsctl run's output, also when a test passes")
	flagRaceBin  = flag.Bool("stress.race", raceEnabled, "build drsctl with the race detector (default: when the tests run with -race)")
)

// drsctlBin is the drsctl binary the tests run, built once by TestMain.
var drsctlBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "drsctl-stress-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	drsctlBin = filepath.Join(dir, "drsctl")
	args := []string{"build", "-o", drsctlBin}
	if *flagRaceBin {
		args = append(args, "-race")
	}
	args = append(args, "github.com/drsctl/drsctl/cmd/drsctl")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(os.Stderr, "stress: the go command is needed to build drsctl: %v\n", err)
		os.Exit(1)
	}
	build := exec.Command(goTool, args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "stress: build drsctl: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	remote = loadRemote()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
