package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// goCmd is the go command that runs these tests.
func goCmd() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

var (
	ctlOnce sync.Once
	ctlPath string
	ctlErr  error
	ctlDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if ctlDir != "" {
		os.RemoveAll(ctlDir)
	}
	os.Exit(code)
}

// ctlT builds cmd/nginx-upgradectl once for the tests of this package.
func ctlT(t *testing.T) string {
	t.Helper()
	ctlOnce.Do(func() {
		if ctlDir, ctlErr = os.MkdirTemp("", "packaging-test"); ctlErr != nil {
			return
		}
		ctlPath = filepath.Join(ctlDir, "nginx-upgradectl")
		out, err := exec.Command(goCmd(), "build", "-o", ctlPath, "../cmd/nginx-upgradectl").CombinedOutput()
		if err != nil {
			ctlErr = &buildError{err, string(out)}
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "build nginx-upgradectl: " + e.err.Error() + "\n" + e.out }

var (
	usageCommand = regexp.MustCompile(`(?m)^  ([a-z]+)  +\S`)
	usageFlag    = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
)

// commands are the commands the helper's usage lists.
func commands(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command(ctlT(t)).CombinedOutput() // usage, exit 2
	var cmds []string
	for _, m := range usageCommand.FindAllStringSubmatch(string(out), -1) {
		cmds = append(cmds, m[1])
	}
	if len(cmds) < 6 {
		t.Fatalf("nginx-upgradectl's usage lists %v as commands, want upgrade, commit, ... :\n%s", cmds, out)
	}
	return cmds
}

// flags are the flags the helper defines for cmd, as `nginx-upgradectl CMD -h` lists them.
func flags(t *testing.T, cmd string) []string {
	t.Helper()
	out, _ := exec.Command(ctlT(t), cmd, "-h").CombinedOutput() // flag's usage, exit 2
	var fs []string
	for _, m := range usageFlag.FindAllStringSubmatch(string(out), -1) {
		fs = append(fs, "--"+m[1])
	}
	if !slices.Contains(fs, "--json") {
		t.Fatalf("nginx-upgradectl %s -h lists %v, no --json: the usage format changed?\n%s", cmd, fs, out)
	}
	slices.Sort(fs)
	return fs
}

// words splits the output of a completion into sorted words.
func words(s string) []string {
	w := strings.Fields(s)
	slices.Sort(w)
	return w
}
