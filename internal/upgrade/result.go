package upgrade

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Outcome is how a run ended. The CLI maps outcomes to its exit codes.
type Outcome string

const (
	Success       Outcome = "success"        // the new build serves alone, verified
	Noop          Outcome = "noop"           // nothing to do; nothing was signalled
	Paused        Outcome = "paused"         // --pause: both masters left for an audit
	Rejected      Outcome = "rejected"       // preflight refused the new binary; nothing was signalled
	RolledBack    Outcome = "rolled_back"    // the new build failed a check; the old one serves as before
	Refused       Outcome = "refused"        // the target could not be trusted; nothing was signalled
	NeedsOperator Outcome = "needs_operator" // a half-done state the helper could not resolve
)

// Step names one stage of a run; they are the STEP values of the audit trail.
type Step string

const (
	StepLock      Step = "lock"
	StepWait      Step = "wait"
	StepFind      Step = "find_master"
	StepPreflight Step = "preflight"
	StepUSR2      Step = "usr2"
	StepNewMaster Step = "new_master"
	StepWorkers   Step = "workers"
	StepHealth    Step = "health"
	StepWINCH     Step = "winch"
	StepSoak      Step = "soak"
	StepHandOver  Step = "handover"
	StepQUIT      Step = "quit"
	StepVerify    Step = "verify"
	StepRollback  Step = "rollback"
	StepCommit    Step = "commit"
	StepReload    Step = "reload"
	StepOutcome   Step = "outcome"
)

// BinaryInfo names a build: where it is, what it says it is, what it hashes to. Debian builds of
// one upstream version answer the same `nginx -v`, so the hash is what tells them apart.
type BinaryInfo struct {
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

// Info is what a run knows about the swap so far; every event carries a copy.
type Info struct {
	OldMaster int        `json:"old_master_pid,omitempty"`
	NewMaster int        `json:"new_master_pid,omitempty"`
	Old       BinaryInfo `json:"old_binary"`
	New       BinaryInfo `json:"new_binary"`
	Reasons   []Reason   `json:"reasons,omitempty"`        // why the run swaps, once preflight knows
	Replaced  []string   `json:"replaced_paths,omitempty"` // the stale files of code the old master and its workers map
	Draining  *Draining  `json:"draining,omitempty"`       // the old master, quitting, still finishes connections
}

// Event is one step of a run, as it happened.
type Event struct {
	Step     Step          `json:"step"`
	Result   string        `json:"result"` // ok, sent, failed, skipped; the outcome on StepOutcome
	Message  string        `json:"message"`
	Err      error         `json:"-"`
	Elapsed  time.Duration `json:"elapsed_ns"`  // since the run began
	Duration time.Duration `json:"duration_ns"` // of this step
	Info     `json:"-"`
}

// Observer sees every event as it happens (the CLI prints them, the audit trail records them).
type Observer func(Event)

// Result is a finished run.
type Result struct {
	Outcome  Outcome
	Err      error
	Info     Info
	Started  time.Time // when the run began: the events' Elapsed counts from it
	Duration time.Duration
	Events   []Event
}

// recorder collects events and times steps.
type recorder struct {
	start    time.Time
	stepFrom time.Time
	info     Info
	events   []Event
	onEvent  Observer
	// pending complete info from checks that run beside the next steps (the running build's
	// `nginx -v` and dpkg package, beside the new build's -T): the next record waits for them.
	pending []func()
}

func newRecorder(onEvent Observer) *recorder {
	now := time.Now()
	return &recorder{start: now, stepFrom: now, onEvent: onEvent}
}

// record ends the current step with result and starts timing the next.
func (r *recorder) record(step Step, result string, err error, format string, args ...any) {
	for _, fill := range r.pending {
		fill()
	}
	r.pending = nil
	now := time.Now()
	ev := Event{Step: step, Result: result, Message: fmt.Sprintf(format, args...), Err: err,
		Elapsed: now.Sub(r.start), Duration: now.Sub(r.stepFrom), Info: r.info}
	if err != nil && ev.Message == "" {
		ev.Message = err.Error()
	}
	r.stepFrom = now
	r.events = append(r.events, ev)
	if r.onEvent != nil {
		r.onEvent(ev)
	}
}

// fillLater has the next record wait for fill, which completes info from a check running beside
// the steps in between; fill runs on the recorder's goroutine.
func (r *recorder) fillLater(fill func()) { r.pending = append(r.pending, fill) }

// beside runs f in a goroutine; the function it returns waits for f's result. f's own context
// bounds it.
func beside[T any](f func() (T, error)) func() (T, error) {
	var v T
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}

// finish records the outcome event and returns the run's result.
func (r *recorder) finish(o Outcome, err error, format string, args ...any) *Result {
	r.stepFrom = r.start
	r.record(StepOutcome, string(o), err, format, args...)
	return &Result{Outcome: o, Err: err, Info: r.info, Started: r.start, Duration: time.Since(r.start), Events: r.events}
}

// isTimeout reports whether err is a deadline or cancellation rather than a failed check.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
