package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

// Ctl runs the real nginx-upgradectl binary, as an operator would after a package upgrade.
type Ctl struct {
	Path string        // the nginx-upgradectl binary
	Soak time.Duration // --soak
	// AuditLog, if set, is passed as --audit-log: the helper's audit trail of the bench's runs
	// goes there instead of the host's log (it writes as much either way).
	AuditLog string
}

func (c Ctl) Name() string { return fmt.Sprintf("ctl-soak%s", shortDur(c.Soak)) }

func (c Ctl) Describe() string {
	return fmt.Sprintf("nginx-upgradectl upgrade --soak %s --health /health", c.Soak)
}

// ctlReport is the part of `nginx-upgradectl --json` the bench reads.
type ctlReport struct {
	Outcome    string    `json:"outcome"`
	ExitCode   int       `json:"exit_code"`
	Message    string    `json:"message"`
	DurationMS int64     `json:"duration_ms"`
	Started    time.Time `json:"started"` // the steps' elapsed_ms count from it
	Steps      []ctlStep `json:"steps"`
}

// since is when the helper's step times start: its run's start, which it reports, or, from a
// helper that does not, exec (earlier by the process's start-up: then every mark is early by
// that, and the overhead short by it).
func (rep ctlReport) since(exec time.Time) time.Time {
	if rep.Started.IsZero() {
		return exec
	}
	return rep.Started
}

type ctlStep struct {
	Step      string `json:"step"`
	Result    string `json:"result"`
	Message   string `json:"message"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// ctlSignal names the signal a helper step sends, or "".
func ctlSignal(step string) string {
	switch step {
	case "usr2":
		return "USR2"
	case "winch":
		return "WINCH"
	case "quit":
		return "QUIT"
	}
	return ""
}

func (c Ctl) Swap(ctx context.Context, env Env) (Outcome, error) {
	args := []string{"upgrade", "--pid-file", env.Nginx.PidFile, "--soak", c.Soak.String(),
		"--health", env.Nginx.URL("/health"), "--json"}
	if c.AuditLog != "" {
		args = append(args, "--audit-log", c.AuditLog)
	}
	rep, out, err := runCtl(ctx, c.Path, args...)
	if rep == nil {
		return out.Outcome, err
	}
	// The helper times its steps from its run's start, which comes after the exec at out.start
	// by the process's start-up (fork, exec, the Go runtime: 10-20 ms here): counted from its
	// report's start, the marks are where the signals were sent, and that start-up is part of
	// the helper's overhead.
	out.Marks = ctlMarks(*rep, env.Clock(rep.since(out.start)))
	out.Preflight = ctlPreflight(*rep)
	return out.Outcome, err
}

// ctlPreflight reads the helper's preflight from its steps: when it ended, how long its
// `nginx -T` took (the line that sizes the deadlines says), and its note, if any.
func ctlPreflight(rep ctlReport) *Preflight {
	p := &Preflight{TestMS: -1}
	sent := false // USR2: the steps after it are the swap's, not the overhead's
	for _, s := range rep.Steps {
		if !sent {
			p.Steps = append(p.Steps, fmt.Sprintf("%d ms %s %s", s.ElapsedMS, s.Step, s.Result))
		}
		sent = sent || s.Step == "usr2"
		if s.Step != "preflight" {
			continue
		}
		p.EndMS = float64(s.ElapsedMS)
		if s.Result == "note" {
			p.Note = s.Message
		}
		if rest, ok := strings.CutPrefix(s.Message, "nginx -T took "); ok {
			if d, err := time.ParseDuration(strings.TrimSuffix(strings.Fields(rest)[0], ":")); err == nil {
				p.TestMS = report.Millis(d)
			}
		}
	}
	return p
}

// ctlMarks turns the helper's "sent" steps into marks, offset by when the helper started.
func ctlMarks(rep ctlReport, start time.Duration) []report.Mark {
	var marks []report.Mark
	for _, s := range rep.Steps {
		if label := ctlSignal(s.Step); label != "" && s.Result == "sent" {
			marks = append(marks, report.Mark{Label: label, At: start + time.Duration(s.ElapsedMS)*time.Millisecond})
		}
	}
	return marks
}

// ctlRun is one finished helper process.
type ctlRun struct {
	Outcome
	start time.Time
}

// runCtl runs the helper with args (which must include --json) and parses its report. The report
// is nil when the helper printed none; err is set when it did not exit 0.
func runCtl(ctx context.Context, path string, args ...string) (*ctlReport, ctlRun, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	run := ctlRun{start: time.Now()}
	usage, runErr := runMeasured(cmd)
	if cmd.ProcessState == nil {
		return nil, run, fmt.Errorf("run %s: %w", path, runErr)
	}
	run.ExitCode = cmd.ProcessState.ExitCode()
	run.Usage = usage
	var rep ctlReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, run, fmt.Errorf("%s %s: exit %d, no JSON report (%v): %s", path, args[0], run.ExitCode, err, strings.TrimSpace(stderr.String()))
	}
	run.Detail = fmt.Sprintf("%s: %s", rep.Outcome, rep.Message)
	if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			return &rep, run, fmt.Errorf("run %s: %w", path, runErr)
		}
		return &rep, run, fmt.Errorf("%s %s exited %d: %s", path, args[0], run.ExitCode, run.Detail)
	}
	return &rep, run, nil
}

// shortDur writes 10s as "10s" and 0 as "0s", and 1m30s as "90s": names stay short.
func shortDur(d time.Duration) string {
	return fmt.Sprintf("%gs", d.Seconds())
}

// CtlHasAuditLog reports whether the helper at path takes --audit-log (older builds do not).
func CtlHasAuditLog(ctx context.Context, path string) bool {
	out, _ := exec.CommandContext(ctx, path, "upgrade", "-h").CombinedOutput()
	return bytes.Contains(out, []byte("-audit-log"))
}
