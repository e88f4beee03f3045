package main

// The contract of a failed swap: status exits 3 while the binary on disk is a build that failed
// a swap (whatever nginx does meanwhile: a restart would start it), and restore refuses with 2
// when there is nothing to put back.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/keep"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// failedOnDisk records a failed swap of a binary in the env's directory and returns the state
// directory and the binary's path.
func (e *env) failedOnDisk() (stateDir, binary string) {
	e.t.Helper()
	binary = filepath.Join(e.dir, "nginx")
	if err := os.WriteFile(binary, []byte("the build that failed"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	sum, err := nginx.HashFile(binary)
	if err != nil {
		e.t.Fatal(err)
	}
	stateDir = filepath.Join(e.dir, "state")
	st := keep.Store{Dir: stateDir}
	if err := st.RecordFailed(keep.FailedSwap{Path: binary, FailedSHA256: sum, KeptSHA256: "00", UpgradeID: "0123abcd", Time: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
	return stateDir, binary
}

func TestStatusExits3WhileTheBinaryOnDiskFailedASwap(t *testing.T) {
	e := newEnv(t)
	stateDir, binary := e.failedOnDisk()

	r := e.run("status", "--pid-file", e.missingPidFile(), "--state-dir", stateDir)
	if r.code != exitOperator || !strings.Contains(r.stdout, "the binary on disk failed a swap at ") ||
		!strings.Contains(r.stdout, "(0123abcd); a restart would start it; run nginx-upgradectl restore") {
		t.Fatalf("want exit 3 and the danger named:\n%s", r)
	}
	r = e.run("status", "--pid-file", e.missingPidFile(), "--state-dir", stateDir, "--json")
	var out struct {
		FailedSwap struct {
			OnDisk    bool   `json:"failed_binary_on_disk"`
			Path      string `json:"path"`
			UpgradeID string `json:"upgrade_id"`
			Message   string `json:"message"`
		} `json:"failed_swap"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitOperator {
		t.Fatalf("--json: %v\n%s", err, r)
	}
	if f := out.FailedSwap; !f.OnDisk || f.Path != binary || f.UpgradeID != "0123abcd" || !strings.Contains(f.Message, "run nginx-upgradectl restore") {
		t.Fatalf("--json failed_swap = %+v", f)
	}

	// Another build on disk (the next package): the danger is gone, status is back to its state.
	if err := os.WriteFile(binary, []byte("a newer build"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = e.run("status", "--pid-file", e.missingPidFile(), "--state-dir", stateDir)
	if r.code != exitRefused || strings.Contains(r.stdout, "failed a swap") {
		t.Fatalf("with another build on disk, want exit 2 (no master) and no danger:\n%s", r)
	}
}

func TestRestoreRefusesWhenNothingFailed(t *testing.T) {
	e := newEnv(t)
	r := e.run("restore", "--pid-file", e.missingPidFile(), "--state-dir", filepath.Join(e.dir, "state"))
	if r.code != exitRefused || !strings.Contains(r.stderr, "refused, nothing changed: nothing to restore: no swap failed") {
		t.Fatalf("want exit 2, nothing to restore:\n%s", r)
	}
}

func TestRestoreRefusesWhenTheServingBuildIsNotKept(t *testing.T) {
	e := newEnv(t)
	stateDir, binary := e.failedOnDisk()
	r := e.run("restore", "--pid-file", e.missingPidFile(), "--state-dir", stateDir, "--json")
	if r.code != exitRefused || !strings.Contains(r.stdout, "the build that served is not kept") {
		t.Fatalf("want exit 2, nothing kept:\n%s", r)
	}
	if got, _ := os.ReadFile(binary); string(got) != "the build that failed" {
		t.Fatalf("a refused restore changed %s", binary)
	}
}

func TestStatusNamesARestoreWithoutTheDanger(t *testing.T) {
	e := newEnv(t)
	stateDir, binary := e.failedOnDisk()
	st := keep.Store{Dir: stateDir}
	f, err := st.Failed()
	if err != nil {
		t.Fatal(err)
	}
	// What restore leaves: the kept build at the path, the failed one diverted.
	if err := os.WriteFile(binary, []byte("the build that served"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.KeptSHA256, _ = nginx.HashFile(binary)
	f.Restored = &keep.Restored{Time: time.Now(), DivertedTo: binary + keep.FailedSuffix}
	if err := st.RecordFailed(*f); err != nil {
		t.Fatal(err)
	}
	r := e.run("status", "--pid-file", e.missingPidFile(), "--state-dir", stateDir)
	if r.code != exitRefused || !strings.Contains(r.stdout, "restored: the kept build is back at ") || strings.Contains(r.stdout, "DANGER") {
		t.Fatalf("want the restore named, no danger, the state's exit (2, no master):\n%s", r)
	}
}
