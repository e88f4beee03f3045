package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const completion = "completion/nginx-upgradectl.bash"

// complete runs the completion function in bash as bash does on TAB: words are COMP_WORDS, the
// last one the word under the cursor. It returns COMPREPLY, one candidate a line.
func complete(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_nginx_upgradectl nginx-upgradectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
	path, err := filepath.Abs(completion)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", script, "bash", path}, words...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
	}
	got := strings.Fields(string(out))
	slices.Sort(got) // bash shows them sorted
	return got
}

func TestCompletionOfCommandsAndFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nginx.pid"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"nginx-upgradectl", "up"}, []string{"upgrade"}},
		{[]string{"nginx-upgradectl", "r"}, []string{"reload", "restore", "rollback"}},
		{[]string{"nginx-upgradectl", "upgrade", "--so"}, []string{"--soak"}},
		{[]string{"nginx-upgradectl", "upgrade", "--soak", "5s", "--pa"}, []string{"--pause"}},
		{[]string{"nginx-upgradectl", "status", "--so"}, nil}, // status has no soak
		{[]string{"nginx-upgradectl", "history", "--si"}, []string{"--since"}},
		{[]string{"nginx-upgradectl", "upgrade", "--pid-file", "ngi"}, []string{"nginx.pid"}},
		{[]string{"nginx-upgradectl", "upgrade", "--pid-file", "=", "ngi"}, []string{"nginx.pid"}},
		{[]string{"nginx-upgradectl", "upgrade", "--soak", ""}, nil}, // a duration: nothing to offer
	} {
		if got := complete(t, dir, c.words...); !slices.Equal(got, c.want) {
			t.Errorf("%s<TAB> completes %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
}

// The completion offers exactly the commands and, for each, exactly the flags the helper
// defines (cmd/nginx-upgradectl/main.go, asked through its usage), so the two cannot drift.
func TestCompletionHasEveryCommandAndFlagOfTheHelper(t *testing.T) {
	dir := t.TempDir()
	cmds := commands(t)
	if got := words(strings.Join(complete(t, dir, "nginx-upgradectl", ""), " ")); !slices.Equal(got, words(strings.Join(cmds, " "))) {
		t.Errorf("completion offers the commands %v, the helper has %v", got, cmds)
	}
	for _, cmd := range cmds {
		want := append(flags(t, cmd), "-h")
		slices.Sort(want)
		if got := words(strings.Join(complete(t, dir, "nginx-upgradectl", cmd, "-"), " ")); !slices.Equal(got, want) {
			t.Errorf("completion offers for %s %v, the helper defines %v", cmd, got, want)
		}
	}
}

// The man page's source names every command and every flag of the helper.
func TestManPageHasEveryCommandAndFlagOfTheHelper(t *testing.T) {
	page, err := os.ReadFile("man/nginx-upgradectl.8.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range commands(t) {
		if !regexp.MustCompile(`(?m)^\*\*` + cmd + `\*\*$`).Match(page) {
			t.Errorf("the man page's COMMANDS do not describe %s", cmd)
		}
		for _, f := range flags(t, cmd) {
			if !regexp.MustCompile(`(?m)^\*\*` + regexp.QuoteMeta(f) + `\*\*`).Match(page) {
				t.Errorf("the man page's OPTIONS do not describe %s (of %s)", f, cmd)
			}
		}
	}
}
