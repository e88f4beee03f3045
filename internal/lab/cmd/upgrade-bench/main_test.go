package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A bench run's revision is dirty when the code differs from the commit, not when results or
// the README do: an axis run straight after another, which wrote its results, measures the same code.
func TestRevisionIsDirtyOnlyWhenCodeDiffers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@localhost"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	write("code.go", "package x\n")
	write("README.md", "# x\n")
	write("docs/bench/config/results.json", "{}\n")
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "x")
	t.Chdir(filepath.Join(dir, "docs")) // the check covers the whole tree wherever it runs from

	clean := revision(t.Context())
	if clean == "unknown" || strings.HasSuffix(clean, "-dirty") {
		t.Fatalf("revision of a clean checkout = %q", clean)
	}
	write("docs/bench/config/results.json", `{"rows": []}`+"\n")
	write("README.md", "# x, with results\n")
	if got := revision(t.Context()); got != clean {
		t.Errorf("with new results and README: revision = %q, want %q", got, clean)
	}
	write("code.go", "package x // changed\n")
	if got := revision(t.Context()); got != clean+"-dirty" {
		t.Errorf("with code changed: revision = %q, want %q", got, clean+"-dirty")
	}
}

// results.json names the helper measured by its path and the first 24 hex digits of its sha256,
// as every published run has.
func TestDescribeCtlNamesTheBinaryByItsHash(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ctl")
	if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := describeCtl("bin/ctl", p), "bin/ctl (sha256 2d711642b726b04401627ca9)"; got != want {
		t.Errorf("describeCtl = %q, want %q", got, want)
	}
	if got := describeCtl("bin/ctl", filepath.Join(t.TempDir(), "missing")); got != "bin/ctl" {
		t.Errorf("describeCtl of a missing file = %q, want the path alone", got)
	}
}
