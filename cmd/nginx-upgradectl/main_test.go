package main

// The CLI contract, through run(): exit codes, usage, flags and the shapes of --json. Every test
// here runs as any user, offline, without nginx: the targets are pid files in a temporary
// directory naming nothing, a dead pid, or a live process that is not nginx. Exit codes 1 and 3
// need a real nginx mid-swap; for those the mapping itself (exitCode) is tested, and the e2e
// suites swap real builds.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/audit"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

// testSink sends records to the test's --audit-log file alone, never to the host's journal, where
// they would show up in the history of the machine's real runs.
func testSink(path string) (audit.Sink, error) {
	if path == "" {
		panic("a test ran a command without --audit-log")
	}
	return audit.File(path)
}

// deadPid is never a live process: ParsePid accepts pids up to 1<<22, and the kernel hands out
// pids below pid_max, which is at most 1<<22.
const deadPid = 1 << 22

// env is one test's private world: a lock directory and an audit log in a temporary directory.
type env struct {
	t        *testing.T
	dir      string
	lockDir  string
	auditLog string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	// The lock directory must be owned by the test's user and writable by it alone; lock
	// creates it 0700.
	return &env{t: t, dir: dir, lockDir: filepath.Join(dir, "lock"), auditLog: filepath.Join(dir, "audit.jsonl")}
}

// pidFile writes a pid file with content and returns its path.
func (e *env) pidFile(content string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, "nginx.pid")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// missingPidFile is a pid file path that does not exist.
func (e *env) missingPidFile() string { return filepath.Join(e.dir, "absent.pid") }

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command with the env's lock directory and audit log added after args.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return runRaw(append(args, "--lock-dir", e.lockDir, "--audit-log", e.auditLog)...)
}

// runRaw runs exactly args.
func runRaw(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr, testSink)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runJSON is the documented result of upgrade, commit, rollback and reload with --json.
type runJSON struct {
	Command      string    `json:"command"`
	UpgradeID    string    `json:"upgrade_id"`
	Outcome      string    `json:"outcome"`
	ExitCode     int       `json:"exit_code"`
	Error        string    `json:"error"`
	Message      string    `json:"message"`
	Started      time.Time `json:"started"`
	DurationMS   int64     `json:"duration_ms"`
	OldMasterPID int       `json:"old_master_pid"`
	NewMasterPID int       `json:"new_master_pid"`
	// Why the run swaps (binary, modules, libraries) and the replaced files, once preflight knows.
	Reasons       []string `json:"reasons"`
	ReplacedPaths []string `json:"replaced_paths"`
	OldBinary     struct {
		Path, Version, SHA256 string
	} `json:"old_binary"`
	NewBinary struct {
		Path, Version, SHA256 string
	} `json:"new_binary"`
	Steps []struct {
		Step       string `json:"step"`
		Result     string `json:"result"`
		Message    string `json:"message"`
		ElapsedMS  int64  `json:"elapsed_ms"`
		DurationMS int64  `json:"duration_ms"`
	} `json:"steps"`
}

// decodeStrict decodes one JSON document from s into v, refusing keys v does not know, and
// returns the document's keys.
func decodeStrict(t *testing.T, s string, v any) map[string]json.RawMessage {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not the documented JSON: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", s)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &keys); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, s)
	}
	return keys
}

func requireKeys(t *testing.T, keys map[string]json.RawMessage, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON has no %q key; keys: %v", k, slices.Sorted(maps.Keys(keys)))
		}
	}
}

var upgradeIDForm = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkRefusedJSON checks a --json result of a refused run and returns it.
func checkRefusedJSON(t *testing.T, cmd string, r result) runJSON {
	t.Helper()
	var got runJSON
	keys := decodeStrict(t, r.stdout, &got)
	requireKeys(t, keys, "command", "upgrade_id", "outcome", "exit_code", "error", "message", "started", "duration_ms", "old_binary", "new_binary", "steps")
	if age := time.Since(got.Started); age < 0 || age > time.Minute {
		t.Errorf("started %v, want the run's start, just now", got.Started)
	}
	if got.Command != cmd || got.Outcome != string(upgrade.Refused) || got.ExitCode != exitRefused || got.ExitCode != r.code {
		t.Errorf("command %q outcome %q exit_code %d (exit %d), want %q %q %d", got.Command, got.Outcome, got.ExitCode, r.code, cmd, upgrade.Refused, exitRefused)
	}
	if !upgradeIDForm.MatchString(got.UpgradeID) {
		t.Errorf("upgrade_id %q is not 32 lowercase hex digits", got.UpgradeID)
	}
	if got.Error == "" || got.Message == "" {
		t.Errorf("a refusal says why: error %q, message %q", got.Error, got.Message)
	}
	if n := len(got.Steps); n == 0 {
		t.Errorf("no steps")
	} else if last := got.Steps[n-1]; last.Step != string(upgrade.StepOutcome) || last.Result != string(upgrade.Refused) || last.Message != got.Message {
		t.Errorf("last step %+v, want the outcome step with result %q and the result's message %q", last, upgrade.Refused, got.Message)
	}
	if got.OldMasterPID != 0 || got.NewMasterPID != 0 {
		t.Errorf("master pids %d → %d for a run that found no master", got.OldMasterPID, got.NewMasterPID)
	}
	return got
}

// checkTrail checks the audit log holds the run id, ended with outcome.
func (e *env) checkTrail(id, outcome string) {
	e.t.Helper()
	runs, err := audit.FileHistory(e.auditLog, time.Time{})
	if err != nil {
		e.t.Fatalf("audit trail: %v", err)
	}
	i := slices.IndexFunc(runs, func(r audit.Run) bool { return r.UpgradeID == id })
	if i < 0 {
		e.t.Fatalf("the audit trail %s has no run %s: %+v", e.auditLog, id, runs)
	}
	if runs[i].Outcome != outcome {
		e.t.Errorf("the trail says run %s ended %q, want %q", id, runs[i].Outcome, outcome)
	}
}

// sleeper starts a live process that is not nginx, titled argv0 (as nginx retitles itself), and
// returns its pid; it is killed when the test ends.
func sleeper(t *testing.T, argv0 string) int {
	t.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep in PATH")
	}
	cmd := exec.Command(path, "60")
	cmd.Args[0] = argv0
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// requireNotSignalled checks that pid got no signal: it is not dead (the test, its parent, has not
// reaped it, so a dead one would be a zombie) and nothing is pending. USR2, HUP, QUIT and TERM
// kill sleep, and the kernel marks the kill before kill(2) returns.
func requireNotSignalled(t *testing.T, pid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X") {
				t.Errorf("pid %d is %s: it was signalled", pid, v)
			}
		case "SigPnd", "ShdPnd":
			if strings.Trim(v, "0") != "" {
				t.Errorf("pid %d has signals pending (%s %s): it was signalled", pid, k, v)
			}
		}
	}
}

func TestNoCommandIsRefusedWithUsage(t *testing.T) {
	r := runRaw()
	if r.code != exitRefused || r.stdout != "" || r.stderr != usage {
		t.Errorf("want exit 2, the usage on stderr, nothing on stdout; got %v", r)
	}
}

func TestUnknownCommandIsRefusedWithUsage(t *testing.T) {
	for _, cmd := range []string{"upgarde", "help", "-h", "--help", "--json", "UPGRADE", "stop", "restart", ""} {
		t.Run(cmd, func(t *testing.T) {
			r := runRaw(cmd, "--pid-file", "/nonexistent/nginx.pid")
			want := fmt.Sprintf("nginx-upgradectl: unknown command %q\n\n%s", cmd, usage)
			if r.code != exitRefused || r.stdout != "" || r.stderr != want {
				t.Errorf("want exit 2 and\n%s\ngot %v", want, r)
			}
		})
	}
}

// -h is flag.ErrHelp: the command's flags on stderr, and exit 2 like any flag that does not
// parse, so that no script mistakes asking for help for a run.
func TestHelpFlagIsRefusedWithTheCommandsFlags(t *testing.T) {
	for _, tc := range []struct {
		cmd     string
		has     []string
		hasNot  []string
		helpArg string
	}{
		{"upgrade", []string{"-pid-file", "-binary", "-pause", "-soak", "-health", "-timeout", "-json", "-lock-dir", "-audit-log", "-unit", "-allow-untrusted-paths", "-ignore-memory"}, []string{"-since"}, "-h"},
		{"commit", []string{"-pid-file", "-health", "-json"}, []string{"-binary", "-pause", "-soak", "-since", "-ignore-memory"}, "--help"},
		{"rollback", []string{"-pid-file", "-health", "-json"}, []string{"-binary", "-pause", "-soak", "-since", "-ignore-memory"}, "-help"},
		{"reload", []string{"-pid-file", "-soak", "-health", "-ignore-memory"}, []string{"-binary", "-pause", "-since"}, "-h"},
		{"status", []string{"-pid-file", "-json", "-unit"}, []string{"-health", "-soak", "-binary", "-since"}, "-h"},
		{"history", []string{"-since", "-json", "-audit-log"}, []string{"-pid-file", "-unit", "-health"}, "-h"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			r := runRaw(tc.cmd, tc.helpArg)
			if r.code != exitRefused || r.stdout != "" || !strings.HasPrefix(r.stderr, "Usage of nginx-upgradectl "+tc.cmd+":\n") {
				t.Fatalf("want exit 2 and the flags of %s on stderr; got %v", tc.cmd, r)
			}
			for _, f := range tc.has {
				if !strings.Contains(r.stderr, "  "+f+" ") && !strings.Contains(r.stderr, "  "+f+"\n") {
					t.Errorf("help of %s does not list %s", tc.cmd, f)
				}
			}
			for _, f := range tc.hasNot {
				if strings.Contains(r.stderr, "  "+f+" ") || strings.Contains(r.stderr, "  "+f+"\n") {
					t.Errorf("help of %s lists %s, a flag it does not take", tc.cmd, f)
				}
			}
		})
	}
}

// A command line that does not parse is refused before anything is looked at: no lock taken, no
// trail written, nothing signalled, nothing on stdout (even with --json).
func TestBadFlagsAreRefusedBeforeAnythingRuns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"soak without a unit", []string{"upgrade", "--soak", "10"}, `invalid value "10" for flag -soak`},
		{"timeout not a duration", []string{"commit", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"negative-looking since", []string{"history", "--since", "a month"}, `invalid value "a month" for flag -since`},
		{"health not http", []string{"upgrade", "--health", "ftp://localhost/"}, "want an http:// or https:// URL"},
		{"health a bare host", []string{"rollback", "--health", "localhost:80"}, "want an http:// or https:// URL"},
		{"health without a value", []string{"upgrade", "--json", "--health"}, "flag needs an argument: -health"},
		{"health unix relative", []string{"upgrade", "--health", "http://unix:run/nginx.sock:/health"}, `socket path "run/nginx.sock" is not absolute (want http://unix:/path/to.sock:/uri)`},
		{"health unix no path", []string{"reload", "--health", "http://unix::/health"}, "no socket path after unix:"},
		{"health unix uri", []string{"commit", "--health", "http://unix:/run/nginx.sock:health"}, "the URI after the socket path must start with /"},
		{"health unix https", []string{"upgrade", "--health", "https://unix:/run/nginx.sock:/"}, "https over a unix socket is not supported"},
		{"health nginx's bare unix", []string{"upgrade", "--health", "unix:/run/nginx.sock:/health"}, "or http://unix:/path/to.sock:/uri"},
		{"json with a value", []string{"status", "--json=maybe"}, `invalid boolean value "maybe" for -json`},
		{"undefined flag", []string{"upgrade", "--force"}, "flag provided but not defined: -force"},
		{"upgrade's flag on commit", []string{"commit", "--binary", "/usr/sbin/nginx"}, "flag provided but not defined: -binary"},
		{"upgrade's flag on reload", []string{"reload", "--pause"}, "flag provided but not defined: -pause"},
		{"soak on status", []string{"status", "--soak", "1s"}, "flag provided but not defined: -soak"},
		{"pid file on history", []string{"history", "--pid-file", "/run/nginx.pid"}, "flag provided but not defined: -pid-file"},
		{"positional binary", []string{"upgrade", "--json", "/usr/sbin/nginx"}, `nginx-upgradectl upgrade: unexpected argument "/usr/sbin/nginx"`},
		{"positional after flags", []string{"status", "--json", "extra"}, `nginx-upgradectl status: unexpected argument "extra"`},
		{"flag after a positional", []string{"rollback", "now", "--json"}, `nginx-upgradectl rollback: unexpected argument "now"`},
		{"history positional", []string{"history", "all"}, `nginx-upgradectl history: unexpected argument "all"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// The env's flags go first: a parse stops at the first error or positional argument.
			args := append([]string{tc.args[0], "--lock-dir", e.lockDir, "--audit-log", e.auditLog}, tc.args[1:]...)
			r := runRaw(args...)
			if r.code != exitRefused || r.stdout != "" || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("want exit 2, nothing on stdout, %q on stderr; got %v", tc.stderr, r)
			}
			for _, p := range []string{e.lockDir, e.auditLog} {
				if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a command line that did not parse (%v)", p, err)
				}
			}
		})
	}
}

// A health URL over a unix socket parses: the run goes on to find the master (and is refused for
// the missing pid file, not for the URL).
func TestHealthURLOverAUnixSocketIsAccepted(t *testing.T) {
	e := newEnv(t)
	r := e.run("upgrade", "--pid-file", e.missingPidFile(), "--health", "http://unix:/run/nginx.sock:/health", "--health", "http://127.0.0.1/", "--json")
	got := checkRefusedJSON(t, "upgrade", r)
	if !strings.Contains(got.Error, "pid file") || strings.Contains(got.Error, "health") {
		t.Fatalf("want a refusal for the pid file; got %v", r)
	}
}

// The targets that are not a running nginx master: each is refused, exit 2, by every command
// that acts, with nothing signalled, a --json result and a trail that say so.
func TestCommandsRefuseAPidFileThatNamesNoMaster(t *testing.T) {
	targets := []struct {
		name    string
		pidFile func(e *env) (path string, live int)
		problem string
	}{
		{"missing pid file", func(e *env) (string, int) { return e.missingPidFile(), 0 }, "pid file does not exist"},
		{"empty pid file", func(e *env) (string, int) { return e.pidFile(""), 0 }, "empty"},
		{"not a number", func(e *env) (string, int) { return e.pidFile("nginx\n"), 0 }, "is not a pid"},
		{"leading zero", func(e *env) (string, int) { return e.pidFile("0123\n"), 0 }, "is not a pid"},
		{"two pids", func(e *env) (string, int) { return e.pidFile("123\n456\n"), 0 }, "is not a pid"},
		{"dead pid", func(e *env) (string, int) { return e.pidFile(fmt.Sprintln(deadPid)), 0 }, fmt.Sprint(deadPid)},
		{"live process, not nginx", func(e *env) (string, int) {
			pid := sleeper(e.t, "sleep")
			return e.pidFile(fmt.Sprintln(pid)), pid
		}, "not an nginx master"},
		{"titled like an nginx master, not nginx", func(e *env) (string, int) {
			pid := sleeper(e.t, "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;")
			return e.pidFile(fmt.Sprintln(pid)), pid
		}, "not an nginx binary"},
	}
	for _, cmd := range []string{"upgrade", "commit", "rollback", "reload"} {
		for _, target := range targets {
			t.Run(cmd+"/"+target.name, func(t *testing.T) {
				e := newEnv(t)
				pidFile, live := target.pidFile(e)
				r := e.run(cmd, "--pid-file", pidFile, "--json", "--soak", "0s")
				if cmd == "commit" || cmd == "rollback" {
					r = e.run(cmd, "--pid-file", pidFile, "--json")
				}
				if r.code != exitRefused {
					t.Fatalf("want exit 2; got %v", r)
				}
				got := checkRefusedJSON(t, cmd, r)
				if !strings.Contains(strings.ToLower(got.Error), target.problem) {
					t.Errorf("error %q does not say %q", got.Error, target.problem)
				}
				if !strings.Contains(r.stderr, "UPGRADE_ID="+got.UpgradeID) {
					t.Errorf("stderr does not name the trail's UPGRADE_ID=%s:\n%s", got.UpgradeID, r.stderr)
				}
				e.checkTrail(got.UpgradeID, string(upgrade.Refused))
				if live != 0 {
					requireNotSignalled(t, live)
				}
			})
		}
	}
}

// Without --json the steps go to stderr, one line each, and stdout stays empty.
func TestRefusalWithoutJSONPrintsStepsOnStderr(t *testing.T) {
	e := newEnv(t)
	r := e.run("upgrade", "--pid-file", e.pidFile(fmt.Sprintln(deadPid)))
	if r.code != exitRefused || r.stdout != "" {
		t.Fatalf("want exit 2 and nothing on stdout; got %v", r)
	}
	if !regexp.MustCompile(`(?m)^ +[0-9]+\.[0-9]{3}s  outcome +refused +refused: `).MatchString(r.stderr) {
		t.Errorf("no outcome line on stderr:\n%s", r.stderr)
	}
	if !regexp.MustCompile(`(?m)^audit trail: ` + regexp.QuoteMeta(e.auditLog) + `, UPGRADE_ID=[0-9a-f]{32}$`).MatchString(r.stderr) {
		t.Errorf("stderr does not say where the trail went:\n%s", r.stderr)
	}
}

// A unit systemd cannot confirm (here: no systemd, or no D-Bus, or a pid file naming no master)
// is a refusal like any other: exit 2 with a --json result and a trail.
func TestUpgradeWithAUnitSystemdCannotConfirmIsRefusedWithAResult(t *testing.T) {
	for _, cmd := range []string{"upgrade", "commit", "rollback", "reload"} {
		t.Run(cmd, func(t *testing.T) {
			e := newEnv(t)
			r := e.run(cmd, "--unit", "nginx-upgradectl-test-absent.service", "--pid-file", e.pidFile(fmt.Sprintln(deadPid)), "--json")
			if r.code != exitRefused {
				t.Fatalf("want exit 2; got %v", r)
			}
			got := checkRefusedJSON(t, cmd, r)
			e.checkTrail(got.UpgradeID, string(upgrade.Refused))
		})
	}
}

// One run at a time per nginx: a lock held elsewhere refuses the run.
func TestAnotherRunOnTheSameNginxIsRefused(t *testing.T) {
	e := newEnv(t)
	pidFile := e.pidFile(fmt.Sprintln(deadPid))
	if r := e.run("upgrade", "--pid-file", pidFile); r.code != exitRefused {
		t.Fatalf("first run: want exit 2; got %v", r)
	}
	e.holdLock()
	for _, cmd := range []string{"upgrade", "commit", "rollback", "reload"} {
		t.Run(cmd, func(t *testing.T) {
			r := e.run(cmd, "--pid-file", pidFile, "--json")
			got := checkRefusedJSON(t, cmd, r)
			if !strings.Contains(got.Error, "another nginx-upgradectl run") {
				t.Errorf("error %q does not say another run holds the lock", got.Error)
			}
		})
	}
}

// holdLock takes the lock a first run left in the env's lock directory, as a run in progress
// holds it, until the test ends (or the returned file is unlocked).
func (e *env) holdLock() *os.File {
	e.t.Helper()
	locks, _ := filepath.Glob(filepath.Join(e.lockDir, "*.lock"))
	if len(locks) != 1 {
		e.t.Fatalf("want one lock file in %s after a run, got %v", e.lockDir, locks)
	}
	f, err := os.OpenFile(locks[0], os.O_RDWR, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// A lock directory others can write could hold a planted lock: refused.
func TestALockDirectoryOthersCanWriteIsRefused(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.lockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.lockDir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := e.run("upgrade", "--pid-file", e.pidFile(fmt.Sprintln(deadPid)), "--json")
	got := checkRefusedJSON(t, "upgrade", r)
	if !strings.Contains(got.Error, "unsafe lock path") {
		t.Errorf("error %q does not say the lock path is unsafe", got.Error)
	}
}

// statusJSON is the documented shape of status --json.
type statusJSON struct {
	State          string            `json:"state"`
	PidFile        string            `json:"pid_file"`
	Problem        string            `json:"problem"`
	Masters        []json.RawMessage `json:"masters"`
	OnDisk         json.RawMessage   `json:"binary_on_disk"`
	UpgradePending bool              `json:"upgrade_pending"`
	ReexecPending  bool              `json:"reexec_pending"`
	Unit           json.RawMessage   `json:"unit"`
}

func TestStatusWithoutAMasterIsStoppedAndExits2(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pidFile func(e *env) string
		problem string
	}{
		{"missing pid file", func(e *env) string { return e.missingPidFile() }, "pid file does not exist"},
		{"not a number", func(e *env) string { return e.pidFile("nginx\n") }, "is not a pid"},
		{"dead pid", func(e *env) string { return e.pidFile(fmt.Sprintln(deadPid)) }, fmt.Sprint(deadPid)},
		{"live process, not nginx", func(e *env) string { return e.pidFile(fmt.Sprintln(sleeper(e.t, "sleep"))) }, "not an nginx master"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pidFile := tc.pidFile(e)

			// A state dir of its own: the machine's may exist, and be root's alone.
			stateDir := filepath.Join(e.dir, "state")
			r := runRaw("status", "--pid-file", pidFile, "--state-dir", stateDir)
			if r.code != exitRefused || !strings.HasPrefix(r.stdout, "state:    stopped\npid file: "+pidFile+"\nproblem:  ") {
				t.Errorf("want exit 2 and state stopped on stdout; got %v", r)
			}

			r = runRaw("status", "--pid-file", pidFile, "--state-dir", stateDir, "--json")
			if r.code != exitRefused {
				t.Errorf("want exit 2; got %v", r)
			}
			var got statusJSON
			keys := decodeStrict(t, r.stdout, &got)
			requireKeys(t, keys, "state", "pid_file", "problem", "masters", "upgrade_pending", "reexec_pending")
			if got.State != string(upgrade.Stopped) || got.PidFile != pidFile || got.UpgradePending || got.ReexecPending {
				t.Errorf("state %q pid_file %q upgrade_pending %v, want stopped %q false", got.State, got.PidFile, got.UpgradePending, pidFile)
			}
			if !strings.Contains(strings.ToLower(got.Problem), tc.problem) {
				t.Errorf("problem %q does not say %q", got.Problem, tc.problem)
			}
			// A list, never null: `jq '.masters[]'` must work on any status.
			if string(keys["masters"]) != "[]" {
				t.Errorf(`masters is %s, want []`, keys["masters"])
			}
			if got.OnDisk != nil {
				t.Errorf("binary_on_disk %s without a master to exec it", got.OnDisk)
			}
			if r.stderr != "" {
				t.Errorf("status wrote to stderr: %s", r.stderr)
			}
		})
	}
}

func TestHistoryReadsTheAuditLog(t *testing.T) {
	r := runRaw("history", "--audit-log", "testdata/audit.jsonl", "--since", "876000h")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("want exit 0 and nothing on stderr; got %v", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two runs; got\n%s", r.stdout)
	}
	for i, want := range [][]string{
		{"WHEN", "ID", "VERSION", "MASTER", "REASON", "OUTCOME", "DURATION", "BY"},
		{"5d1c0f3e", "nginx/1.22.1 → nginx/1.24.0", "6107 → 6124", "binary", "success", "12.3s", "cli (uid 0)"},
		{"a0b1c2d3", "nginx/1.24.0 → ?", "6124 → -", "incomplete", "nginx-upgrade.service (uid 0)"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q does not show %q", i, lines[i], w)
			}
		}
	}
}

// The JSON of history is []audit.Run as encoding/json writes it: Go field names.
func TestHistoryJSONShape(t *testing.T) {
	r := runRaw("history", "--audit-log", "testdata/audit.jsonl", "--since", "876000h", "--json")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("want exit 0 and nothing on stderr; got %v", r)
	}
	var runs []audit.Run
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&runs); err != nil {
		t.Fatalf("not a list of runs: %v\n%s", err, r.stdout)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || len(raw) != 2 || len(runs) != 2 {
		t.Fatalf("want two runs (%v):\n%s", err, r.stdout)
	}
	for _, run := range raw {
		requireKeys(t, run, "UpgradeID", "Start", "End", "Outcome", "OldVersion", "NewVersion", "OldSHA256", "NewSHA256",
			"OldMasterPID", "NewMasterPID", "Duration", "InvokedBy", "InvokerUID", "Unit", "Error", "Steps", "Reason", "ReplacedPaths")
	}
	ok := runs[0]
	if ok.UpgradeID != "5d1c0f3e9a8b47c6b2e1d0f9a8b7c6d5" || ok.Outcome != "success" || len(ok.Steps) != 4 ||
		ok.Reason != "binary" || !slices.Equal(ok.ReplacedPaths, []string{"/usr/sbin/nginx"}) ||
		ok.OldMasterPID != 6107 || ok.NewMasterPID != 6124 || ok.NewVersion != "nginx/1.24.0" || ok.Duration.Milliseconds() != 12300 {
		t.Errorf("first run: %+v", ok)
	}
	if cut := runs[1]; cut.Outcome != audit.Incomplete || len(cut.Steps) != 1 || cut.InvokedBy != "nginx-upgrade.service" {
		t.Errorf("second run: %+v", cut)
	}
}

func TestHistoryWithNoRunsIsAnEmptyList(t *testing.T) {
	for _, tc := range []struct{ name, log, since string }{
		{"empty trail", "", "876000h"},
		{"runs older than --since", "testdata/audit.jsonl", "1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := tc.log
			if log == "" {
				log = filepath.Join(t.TempDir(), "audit.jsonl")
				if err := os.WriteFile(log, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := runRaw("history", "--audit-log", log, "--since", tc.since, "--json")
			if r.code != exitOK || r.stdout != "[]\n" {
				t.Errorf("want exit 0 and []; got %v", r)
			}
			r = runRaw("history", "--audit-log", log, "--since", tc.since)
			if r.code != exitOK || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "WHEN") {
				t.Errorf("want exit 0 and the header alone; got %v", r)
			}
		})
	}
}

func TestHistoryOfAMissingAuditLogIsRefused(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.jsonl")
	r := runRaw("history", "--audit-log", missing, "--json")
	if r.code != exitRefused || r.stdout != "" || !strings.Contains(r.stderr, "nginx-upgradectl history: reading audit log: open "+missing) {
		t.Errorf("want exit 2, nothing on stdout, the error on stderr; got %v", r)
	}
}

// A line cut short (a full disk) loses that record, not the history: the runs read are shown,
// exit 0, and stderr says what was skipped.
func TestHistoryOfADamagedTrailShowsWhatItCan(t *testing.T) {
	good, err := os.ReadFile("testdata/audit.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "audit.jsonl")
	damaged := append(slices.Clone(good), []byte(`{"UPGRADE_ID":"ffeeddcc","STEP":"lo`+"\n")...)
	if err := os.WriteFile(log, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runRaw("history", "--audit-log", log, "--since", "876000h", "--json")
	var runs []audit.Run
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &runs) != nil || len(runs) != 2 {
		t.Errorf("want exit 0 and the two whole runs; got %v", r)
	}
	if !strings.Contains(r.stderr, "skipped 1 lines that are not records, the first at line 6") {
		t.Errorf("stderr does not say a line was skipped:\n%s", r.stderr)
	}
}

// Every outcome maps to one exit code, per command: 0 done, 1 not taken, 2 refused, 3 needs an
// operator. A rollback that was asked for and done is the rollback command's success.
func TestExitCodeOfEveryOutcomeForEveryCommand(t *testing.T) {
	want := map[upgrade.Outcome]int{
		upgrade.Success:       exitOK,
		upgrade.Noop:          exitOK,
		upgrade.Paused:        exitOK,
		upgrade.Rejected:      exitNotTaken,
		upgrade.RolledBack:    exitNotTaken,
		upgrade.Refused:       exitRefused,
		upgrade.NeedsOperator: exitOperator,
		"":                    exitOperator, // an outcome this build does not know: ask a human
		"something_new":       exitOperator,
	}
	if exitOK != 0 || exitNotTaken != 1 || exitRefused != 2 || exitOperator != 3 {
		t.Fatalf("the exit codes are a contract: 0 1 2 3, got %d %d %d %d", exitOK, exitNotTaken, exitRefused, exitOperator)
	}
	for _, cmd := range []string{"upgrade", "commit", "rollback", "reload"} {
		for o, code := range want {
			if cmd == "rollback" && o == upgrade.RolledBack {
				code = exitOK
			}
			t.Run(cmd+"/"+string(o), func(t *testing.T) {
				if got := exitCode(cmd, o); got != code {
					t.Errorf("exitCode(%q, %q) = %d, want %d", cmd, o, got, code)
				}
			})
		}
	}
}

// The exit code in --json is the process's, for every outcome.
func TestJSONResultCarriesTheExitCode(t *testing.T) {
	for _, o := range []upgrade.Outcome{upgrade.Success, upgrade.Noop, upgrade.Paused, upgrade.Rejected, upgrade.RolledBack, upgrade.Refused, upgrade.NeedsOperator} {
		t.Run(string(o), func(t *testing.T) {
			var b bytes.Buffer
			res := &upgrade.Result{Outcome: o, Info: upgrade.Info{OldMaster: 6107, NewMaster: 6124,
				Old: upgrade.BinaryInfo{Path: "/usr/sbin/nginx", Version: "nginx/1.22.1", SHA256: "bc08"},
				New: upgrade.BinaryInfo{Path: "/usr/sbin/nginx", Version: "nginx/1.24.0", SHA256: "1f2e"}},
				Events: []upgrade.Event{
					{Step: upgrade.StepFind, Result: "ok", Message: "master 6107"},
					{Step: upgrade.StepOutcome, Result: string(o), Message: "the end"},
				}}
			code := exitCode("upgrade", o)
			writeJSON(&b, "upgrade", "5d1c0f3e9a8b47c6b2e1d0f9a8b7c6d5", code, res)
			var got runJSON
			keys := decodeStrict(t, b.String(), &got)
			requireKeys(t, keys, "command", "upgrade_id", "outcome", "exit_code", "message", "started", "duration_ms",
				"old_master_pid", "new_master_pid", "old_binary", "new_binary", "steps")
			if _, ok := keys["error"]; ok {
				t.Errorf("error present without one: %s", keys["error"])
			}
			if got.ExitCode != code || got.Outcome != string(o) || got.Message != "the end" || len(got.Steps) != 2 ||
				got.OldMasterPID != 6107 || got.NewMasterPID != 6124 || got.NewBinary.Version != "nginx/1.24.0" || got.OldBinary.SHA256 != "bc08" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// A finished swap whose old master still drains is steady for scripts and fleet gates, as long
// as systemd tracks the new master; it would stop nginx with the old one otherwise.
func TestStatusExitOfEveryState(t *testing.T) {
	want := map[upgrade.State]int{
		upgrade.Stopped: exitRefused, upgrade.Running: exitOK, upgrade.OldDraining: exitOK,
		upgrade.NewMasterStarting: exitOperator, upgrade.BothServing: exitOperator, upgrade.OldDrained: exitOperator,
		upgrade.StaleOldbin: exitOperator, upgrade.Inconsistent: exitOperator,
	}
	for s, code := range want {
		if got := statusExit(upgrade.Status{State: s}, false); got != code {
			t.Errorf("%s: exit %d, want %d", s, got, code)
		}
	}
	if got := statusExit(upgrade.Status{State: upgrade.OldDraining}, true); got != exitOperator {
		t.Errorf("old-draining with systemd tracking another pid: exit %d, want %d", got, exitOperator)
	}
	masters := []upgrade.MasterStatus{{Role: "old", Pid: 10}, {Role: "current", Pid: 20}}
	draining := upgrade.Status{State: upgrade.OldDraining, Masters: masters}
	if mainPIDMismatch(draining, 20) || !mainPIDMismatch(draining, 10) {
		t.Errorf("old-draining: MainPID must be the new master 20, and only it")
	}
	paused := upgrade.Status{State: upgrade.OldDrained, Masters: masters}
	if mainPIDMismatch(paused, 10) || mainPIDMismatch(paused, 20) || !mainPIDMismatch(paused, 30) {
		t.Errorf("old-drained: MainPID may be either master, nothing else")
	}
}

// With --wait, a run waits for the run holding the lock, then decides afresh (here: the pid
// file names no master, so it is refused for that, not for the lock).
func TestWaitTakesTheLockOnceTheRunInProgressEnds(t *testing.T) {
	e := newEnv(t)
	pidFile := e.pidFile(fmt.Sprintln(deadPid))
	e.run("upgrade", "--pid-file", pidFile)
	f := e.holdLock()
	if got := checkRefusedJSON(t, "upgrade", e.run("upgrade", "--pid-file", pidFile, "--wait", "100ms", "--json")); !strings.Contains(got.Error, "another nginx-upgradectl run") || !strings.Contains(got.Error, "--wait") {
		t.Errorf("holder outlasting --wait: error %q, want busy after the wait", got.Error)
	}
	fd := int(f.Fd()) // read here: holdLock's cleanup closes f on the test's goroutine
	release := time.AfterFunc(300*time.Millisecond, func() { unix.Flock(fd, unix.LOCK_UN) })
	defer release.Stop()
	r := e.run("upgrade", "--pid-file", pidFile, "--wait", "1m", "--json")
	got := checkRefusedJSON(t, "upgrade", r)
	if strings.Contains(got.Error, "another nginx-upgradectl run") {
		t.Fatalf("refused for the lock after its holder ended: %s", got.Error)
	}
	if got.Steps[0].Step != string(upgrade.StepLock) || !strings.Contains(got.Steps[0].Message, "waited") {
		t.Errorf("first step %+v, want the lock wait", got.Steps[0])
	}
}
