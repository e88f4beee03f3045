package packaging

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// ctlT is the helper built from this tree, as the end-to-end suites use it.
func ctlT(t *testing.T) string { return labtest.CtlT(t) }

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
