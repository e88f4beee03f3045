// Package labtest is what the end-to-end suites (internal/lab/e2e/...) share: the
// nginx-upgradectl binary under test, built once per test binary; our .deb and .rpm packaged from
// that very binary; and the assertions every suite makes about load and systemd. It lives in a
// package of its own so that no suite borrows another suite's test files.
package labtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
)

// workDir holds the binary and the packages of one test binary; Main removes it.
var workDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "nginx-upgradectl-test") })

// Main runs the tests of a suite and removes what they built; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if dir, err := workDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// ctl builds cmd/nginx-upgradectl once, static as packaged, so the same binary runs on the host
// and in the test containers: the promises are the command's (its exit codes, its output).
var ctl = sync.OnceValues(func() (string, error) {
	dir, err := workDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "nginx-upgradectl")
	// -buildvcs=false: the helper reads no VCS stamp, and git refuses a checkout another user owns.
	build := exec.Command("go", "build", "-buildvcs=false", "-o", path, "github.com/nginx-upgrade/nginx-upgrade/cmd/nginx-upgradectl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nginx-upgradectl: %v\n%s", err, out)
	}
	return path, nil
})

// CtlT returns the path of the nginx-upgradectl binary under test, building it on first use.
func CtlT(t testing.TB) string {
	t.Helper()
	path, err := ctl()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// EachRelease runs test once per Debian release the lab runs (nspawn.Releases), each a subtest
// named by its codename (`-run 'TestX/trixie'` picks one): the same promise proven on each
// release, never a copy of the test per release.
func EachRelease(t *testing.T, test func(t *testing.T, r nspawn.Release)) {
	t.Helper()
	for _, r := range nspawn.Releases() {
		t.Run(r.String(), func(t *testing.T) { test(t, r) })
	}
}
