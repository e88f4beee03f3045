// Command nginx-upgradectl swaps the binary of a running nginx without dropping a connection,
// checking every step and rolling back by itself when the new build fails.
//
// Exit codes are a contract: 0 upgraded and verified (or nothing to do), 1 the new binary was not
// taken and the old one serves as before, 2 refused with nothing signalled, 3 needs an operator.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/nginx-upgrade/nginx-upgrade/internal/audit"
	"github.com/nginx-upgrade/nginx-upgrade/internal/health"
	"github.com/nginx-upgrade/nginx-upgrade/internal/keep"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/systemd"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

const (
	exitOK       = 0
	exitNotTaken = 1
	exitRefused  = 2
	exitOperator = 3
)

const usage = `usage: nginx-upgradectl <command> [flags]

commands:
  upgrade   swap the running nginx to the binary on disk; rolls back by itself on any failed check
  commit    finish a paused or interrupted upgrade: the old master quits
  rollback  undo a half-done upgrade: the old master serves alone again
  reload    for ExecReload= of nginx.service: upgrade when the binary on disk is new, else a tested config reload
  restore   after a rollback: put the kept build back on disk, so that a restart starts it
  status    show masters, workers, binaries, the systemd unit and the state
  history   past runs from the audit trail (journald, or --audit-log)

run 'nginx-upgradectl <command> -h' for the flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, audit.Open))
}

func run(args []string, stdout, stderr io.Writer, openSink sinkOpener) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitRefused
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("nginx-upgradectl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addFlags(fs, cmd)
	if f == nil {
		fmt.Fprintf(stderr, "nginx-upgradectl: unknown command %q\n\n%s", cmd, usage)
		return exitRefused
	}
	if err := fs.Parse(args); err != nil {
		return exitRefused
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nginx-upgradectl %s: unexpected argument %q (flags go before nothing else)\n", cmd, fs.Arg(0))
		return exitRefused
	}

	// Ctrl-C or a service manager's stop makes a run roll back, then exit: never leave two masters
	// behind without saying so.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// --timeout is the run's own budget: a wait for another run (--wait) comes before it.
	ctx, cancel := context.WithTimeout(ctx, f.timeout+f.wait)
	defer cancel()

	switch cmd {
	case "status":
		return status(ctx, f, stdout)
	case "history":
		return history(ctx, f, stdout, stderr)
	}
	opts := f.options()
	sup, discoverErr := discover(ctx, f)
	unit := ""
	if sup != nil {
		defer sup.Client.Close()
		opts.Supervisor, unit = sup, sup.Unit
	}
	tr := openTrail(openSink, f.auditLog, unit, stderr)
	defer tr.close()
	opts.UpgradeID = tr.id
	print := printStep(stderr)
	// Under systemd, stderr is the journal already, where the trail's events say the same.
	toJournal, _ := journal.StderrIsJournalStream()
	quiet := f.json || (toJournal && tr.sink.Where() == "journald")
	opts.OnEvent = func(ev upgrade.Event) {
		tr.observe(ev)
		if !quiet {
			print(ev)
		}
	}
	var res *upgrade.Result
	switch {
	case discoverErr != nil:
		// A refusal like any other: in the trail, and a result for --json.
		err := fmt.Errorf("%w; pass --unit, or check that systemd answers on D-Bus", discoverErr)
		ev := upgrade.Event{Step: upgrade.StepOutcome, Result: string(upgrade.Refused), Err: err,
			Message: fmt.Sprintf("refused, nothing signalled: %v", err)}
		opts.OnEvent(ev)
		res = &upgrade.Result{Outcome: upgrade.Refused, Err: err, Started: time.Now(), Events: []upgrade.Event{ev}}
	case cmd == "upgrade":
		res = upgrade.Upgrade(ctx, opts)
	case cmd == "commit":
		res = upgrade.Commit(ctx, opts)
	case cmd == "rollback":
		res = upgrade.Rollback(ctx, opts)
	case cmd == "reload":
		res = upgrade.Reload(ctx, opts)
	case cmd == "restore":
		res = upgrade.Restore(ctx, opts)
	}
	code := exitCode(cmd, res.Outcome)
	if f.json {
		writeJSON(stdout, cmd, tr.id, code, res)
	}
	return code
}

// flags are the options common to every command.
type flags struct {
	pidFile  string
	binary   string
	soak     time.Duration
	health   urlList
	timeout  time.Duration
	json     bool
	pause    bool
	lockDir  string
	untrust  bool
	auditLog string
	since    time.Duration
	unit     string
	wait     time.Duration
	drain    time.Duration
	stateDir string

	ignoreMemory bool
}

func addFlags(fs *flag.FlagSet, cmd string) *flags {
	switch cmd {
	case "upgrade", "commit", "rollback", "reload", "restore", "status", "history":
	default:
		return nil
	}
	f := &flags{}
	fs.BoolVar(&f.json, "json", false, "print a machine-readable result on stdout")
	fs.StringVar(&f.auditLog, "audit-log", "", "also write the audit trail to this JSON-lines file (without journald: only there; default "+audit.DefaultFile+")")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "deadline for the whole run (a rollback gets its own minute after it)")
	fs.StringVar(&f.lockDir, "lock-dir", upgrade.DefaultLockDir, "directory of the per-nginx run locks")
	if cmd == "history" {
		fs.DurationVar(&f.since, "since", 30*24*time.Hour, "show runs that started within this long")
		return f
	}
	fs.StringVar(&f.pidFile, "pid-file", "/run/nginx.pid", "nginx's pid file")
	fs.StringVar(&f.unit, "unit", "", "the systemd service running nginx (default: found from the master's cgroup)")
	fs.BoolVar(&f.untrust, "allow-untrusted-paths", false, "act on pid files and binaries that users other than root could write (unsafe; for deliberate layouts only)")
	if cmd == "upgrade" || cmd == "reload" || cmd == "restore" || cmd == "status" {
		fs.StringVar(&f.stateDir, "state-dir", keep.DefaultDir, "directory of the kept builds and the record of a failed swap")
	}
	if cmd == "status" || cmd == "restore" {
		return f
	}
	fs.Var(&f.health, "health", "URL that must answer 2xx/3xx through the new build, http(s)://host/uri or http://unix:/path/to.sock:/uri (repeatable)")
	if cmd == "upgrade" || cmd == "reload" {
		fs.DurationVar(&f.soak, "soak", 10*time.Second, "how long the new build serves alone, watched, before the old master quits")
		fs.DurationVar(&f.drain, "drain-wait", 5*time.Second, "after QUIT, how long to wait for the old master to exit; then the run succeeds and it drains its connections on its own")
		fs.DurationVar(&f.wait, "wait", 0, "wait this long for another run on this nginx, or for a previous swap's old master to finish draining, then decide afresh (0: refuse at once, exit 2)")
		fs.BoolVar(&f.ignoreMemory, "ignore-memory", false, "swap even when the memory available to nginx looks too small for a second generation beside the running one")
	}
	if cmd == "upgrade" {
		fs.StringVar(&f.binary, "binary", "", "the new nginx binary (default: the path the running master was started from, which nginx re-executes)")
		fs.BoolVar(&f.pause, "pause", false, "stop after WINCH with both masters kept; then run commit or rollback")
	}
	return f
}

func (f *flags) options() upgrade.Options {
	return upgrade.Options{
		PidFile:  f.pidFile,
		Binary:   f.binary,
		Soak:     f.soak,
		Pause:    f.pause,
		Health:   health.Checker{URLs: f.health},
		LockDir:  f.lockDir,
		StateDir: f.stateDir,

		DrainWait: f.drain,
		Wait:      f.wait,

		AllowUntrusted: f.untrust,
		IgnoreMemory:   f.ignoreMemory,
	}
}

// exitCode maps an outcome to the exit code contract. A rollback that was asked for and done is
// a success of the rollback command.
func exitCode(cmd string, o upgrade.Outcome) int {
	switch o {
	case upgrade.Success, upgrade.Noop, upgrade.Paused:
		return exitOK
	case upgrade.RolledBack:
		if cmd == "rollback" {
			return exitOK
		}
		return exitNotTaken
	case upgrade.Rejected:
		return exitNotTaken
	case upgrade.Refused:
		return exitRefused
	}
	return exitOperator
}

func status(ctx context.Context, f *flags, stdout io.Writer) int {
	st := upgrade.ReadStatus(ctx, f.pidFile)
	st.AddFailedSwap(f.stateDir)
	if st.Masters == nil {
		st.Masters = []upgrade.MasterStatus{} // a list, never null, like a master's workers
	}
	out := struct {
		upgrade.Status
		Unit *systemd.Service `json:"unit,omitempty"`
	}{Status: st}
	mismatch := false
	if sup, err := discover(ctx, f); err == nil && sup != nil {
		if svc, err := sup.Client.Service(ctx, sup.Unit); err == nil {
			out.Unit = &svc
			mismatch = mainPIDMismatch(st, svc.MainPID)
		}
		sup.Client.Close()
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		st.Write(stdout)
		if u := out.Unit; u != nil {
			fmt.Fprintf(stdout, "unit:     %s, MainPID %d, %s/%s\n", u.Unit, u.MainPID, u.ActiveState, u.SubState)
			if mismatch {
				fmt.Fprintf(stdout, "warning:  systemd's MainPID %d is not a master named by the pid files\n", u.MainPID)
			}
		}
	}
	return statusExit(st, mismatch)
}

// statusExit is status's exit code: 0 steady (running, or a finished swap's old master
// draining), 2 no master, 3 a binary on disk that failed a swap, half-done, or systemd tracking
// a process the pid files do not name.
func statusExit(st upgrade.Status, mismatch bool) int {
	switch {
	case st.FailedSwap != nil && st.FailedSwap.OnDisk:
		return exitOperator // a restart, or a reboot, would start the build that failed
	case st.State == upgrade.Stopped:
		return exitRefused
	case st.State.HalfDone() || mismatch:
		return exitOperator
	}
	return exitOK
}

// mainPIDMismatch reports whether systemd's MainPID is not the master it should be: one the pid
// files name, and once the old master quits (old-draining), the new one: systemd would stop
// nginx when the old one exits.
func mainPIDMismatch(st upgrade.Status, mainPID int) bool {
	if len(st.Masters) == 0 {
		return false
	}
	current := st.Masters[len(st.Masters)-1].Pid
	if st.State == upgrade.OldDraining {
		return mainPID != current
	}
	return mainPID != current && mainPID != st.Masters[0].Pid
}

// discover finds the systemd unit of the pid file's master, or of --unit. With neither there is
// nothing to find, and nothing to ask D-Bus: the run says what is missing, not that the bus is.
func discover(ctx context.Context, f *flags) (*systemd.Supervisor, error) {
	master := masterPid(f.pidFile)
	if master == 0 && f.unit == "" {
		return nil, nil
	}
	return systemd.Discover(ctx, f.unit, master)
}

// masterPid reads the pid file for unit discovery; 0 when it names no live nginx master (the run
// then says why, instead of systemd saying it knows no unit of a dead or foreign pid).
func masterPid(pidFile string) int {
	pid, err := nginx.ReadPidFile(pidFile)
	if err != nil {
		return 0
	}
	if _, err := nginx.ReadMaster(pid); err != nil {
		return 0
	}
	return pid
}

// printStep prints one line per step: time since start, step, result, message.
func printStep(w io.Writer) upgrade.Observer {
	return func(ev upgrade.Event) {
		fmt.Fprintf(w, "%8.3fs  %-12s %-7s %s\n", ev.Elapsed.Seconds(), ev.Step, ev.Result, ev.Message)
	}
}

type jsonStep struct {
	Step       upgrade.Step `json:"step"`
	Result     string       `json:"result"`
	Message    string       `json:"message"`
	ElapsedMS  int64        `json:"elapsed_ms"`
	DurationMS int64        `json:"duration_ms"`
}

func writeJSON(w io.Writer, cmd, upgradeID string, code int, res *upgrade.Result) {
	out := struct {
		Command    string          `json:"command"`
		UpgradeID  string          `json:"upgrade_id"` // the run's UPGRADE_ID in the audit trail
		Outcome    upgrade.Outcome `json:"outcome"`
		ExitCode   int             `json:"exit_code"`
		Error      string          `json:"error,omitempty"`
		Message    string          `json:"message"`
		Started    time.Time       `json:"started"` // the steps' elapsed_ms count from it
		DurationMS int64           `json:"duration_ms"`
		upgrade.Info
		Steps []jsonStep `json:"steps"`
	}{Command: cmd, UpgradeID: upgradeID, Outcome: res.Outcome, ExitCode: code, DurationMS: res.Duration.Milliseconds(), Started: res.Started, Info: res.Info}
	if res.Err != nil {
		out.Error = res.Err.Error()
	}
	for _, ev := range res.Events {
		out.Steps = append(out.Steps, jsonStep{ev.Step, ev.Result, ev.Message, ev.Elapsed.Milliseconds(), ev.Duration.Milliseconds()})
		out.Message = ev.Message
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// urlList is a repeatable flag.
type urlList []string

func (u *urlList) String() string { return strings.Join(*u, ",") }
func (u *urlList) Set(s string) error {
	if _, err := health.ParseURL(s); err != nil {
		return err
	}
	*u = append(*u, s)
	return nil
}
