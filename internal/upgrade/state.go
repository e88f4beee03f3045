package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// State names what the pid files and the process table show. It is derived afresh every time, never
// stored: a helper killed at any point leaves nothing behind that status could disagree with.
type State string

const (
	// Stopped: no live nginx master is named by the pid files.
	Stopped State = "stopped"
	// Running: one master, named by the pid file; the steady state.
	Running State = "running"
	// NewMasterStarting: USR2 was sent; .oldbin names the old master, the new one is not up yet.
	NewMasterStarting State = "new-master-starting"
	// BothServing: old and new masters both have workers accepting connections.
	BothServing State = "both-serving"
	// OldDrained: WINCH was sent; the old master has no serving workers (an upgrade paused here
	// for an audit waits for commit or rollback).
	OldDrained State = "old-drained"
	// OldDraining: the swap is done: the old master got QUIT (it holds no listening socket any
	// more, so it can no longer be rolled back to) and only finishes the connections its workers
	// still serve; the new master serves alone. nginx removes .oldbin when the old master exits.
	OldDraining State = "old-draining"
	// StaleOldbin: .oldbin names a master that is gone; the new master serves alone.
	StaleOldbin State = "stale-oldbin"
	// Inconsistent: both pid files name masters, but the new one is not a child of the old.
	Inconsistent State = "inconsistent"
)

// HalfDone reports whether s is a state of an unfinished upgrade. OldDraining is not: the new
// build serves alone and nothing is left to decide, only to wait for.
func (s State) HalfDone() bool { return s != Stopped && s != Running && s != OldDraining }

// Snapshot is what one look at the pid files and /proc found.
type Snapshot struct {
	PidFile    string
	State      State
	Current    *nginx.Master // named by the pid file
	CurrentErr error         // why the pid file names no master
	Old        *nginx.Master // named by the .oldbin pid file
	OldbinErr  error         // why .oldbin names no master (nginx.ErrNoPidFile when absent)
	OldServing int           // serving workers of Old
	// OldQuitting: Old has no serving workers and holds no listening socket: it got QUIT (WINCH
	// alone leaves the master its listeners, for a rollback's HUP).
	OldQuitting bool
	// USR2Pending: USR2 was sent to Current but it has not acted on it yet (a busy machine can
	// take a while to schedule it); it is as good as started.
	USR2Pending bool
}

// ReadState looks at the nginx whose pid file is pidFile and names its state.
func ReadState(pidFile string) Snapshot {
	s := Snapshot{PidFile: pidFile}
	s.Current, s.CurrentErr = masterFromPidFile(pidFile)
	s.Old, s.OldbinErr = masterFromPidFile(nginx.OldbinPath(pidFile))
	if s.Old != nil {
		serving, _, _ := nginx.Workers(s.Old.Pid)
		s.OldServing = len(serving)
		if s.OldServing == 0 {
			s.OldQuitting = quitting(s.Old.Pid)
		}
	}
	if s.Current != nil {
		s.USR2Pending, _ = nginx.Pending(s.Current.Pid, syscall.SIGUSR2)
	}
	s.State = nameState(s)
	return s
}

// nameState is pure: it names the state from what ReadState read.
func nameState(s Snapshot) State {
	oldbinExists := !errors.Is(s.OldbinErr, nginx.ErrNoPidFile)
	switch {
	case !oldbinExists && s.Current != nil && s.USR2Pending:
		return NewMasterStarting
	case !oldbinExists && s.Current != nil:
		return Running
	case !oldbinExists:
		return Stopped
	case s.Old == nil && s.Current != nil:
		return StaleOldbin
	case s.Old == nil:
		return Stopped
	case s.Current == nil || s.Current.Pid == s.Old.Pid:
		return NewMasterStarting
	case s.Current.PPid != s.Old.Pid:
		return Inconsistent
	case s.OldServing == 0 && s.OldQuitting:
		return OldDraining
	case s.OldServing == 0:
		return OldDrained
	}
	return BothServing
}

func masterFromPidFile(path string) (*nginx.Master, error) {
	pid, err := nginx.ReadPidFile(path)
	if err != nil {
		return nil, err
	}
	m, err := nginx.ReadMaster(pid)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// removeStaleOldbin deletes an .oldbin pid file that names no live master, as nginx itself would
// have had the old master exited gracefully. It re-checks first: the file is only removed if it
// still names the same dead pid.
func removeStaleOldbin(pidFile string) error {
	path := nginx.OldbinPath(pidFile)
	if _, err := masterFromPidFile(path); err == nil {
		return errors.New(path + " names a live master; not removing it")
	} else if errors.Is(err, nginx.ErrNoPidFile) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// trustPidFiles checks the pid file, and .oldbin when there is one, before any pid read from them
// is signalled.
func trustPidFiles(opts Options) error {
	if opts.AllowUntrusted {
		return nil
	}
	if err := nginx.TrustPidFile(opts.PidFile); err != nil {
		return fmt.Errorf("%w; make it root's alone (or pass --allow-untrusted-paths)", err)
	}
	oldbin := nginx.OldbinPath(opts.PidFile)
	if _, err := os.Lstat(oldbin); err == nil {
		if err := nginx.TrustPidFile(oldbin); err != nil {
			return fmt.Errorf("%w; make it root's alone (or pass --allow-untrusted-paths)", err)
		}
	}
	return nil
}

// Settle reads the state until a starting new master is up or gone (nginx restores the pid file when it
// fails), within ctx: commit and rollback must not decide on a state that is still moving.
func Settle(ctx context.Context, pidFile string, every time.Duration) Snapshot {
	s := ReadState(pidFile)
	wait.Until(ctx, every, func() (bool, error) {
		s = ReadState(pidFile)
		return s.State != NewMasterStarting, nil
	})
	return s
}

// resolve is how Commit and Rollback run: body gets the half-done state to finish, or the run ends
// before it when there is none (what names the command for that message). The pid files must be
// trusted before any pid in them is signalled, and a starting new master is let come up or fail,
// so that nothing is decided on a state still moving.
func resolve(ctx context.Context, opts Options, what string, body func(r *run, s Snapshot) *Result) *Result {
	return begin(ctx, opts, func(r *run) *Result {
		if err := trustPidFiles(r.opts); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r.rec.finish(Refused, err, "refused, nothing signalled: %v", err)
		}
		sctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
		s := Settle(sctx, r.opts.PidFile, r.opts.Poll)
		cancel()
		if s.Old != nil {
			r.rec.info.OldMaster = s.Old.Pid
			if s.Current != nil && s.Current.Pid != s.Old.Pid {
				r.rec.info.NewMaster = s.Current.Pid
			}
		} else if s.Current != nil {
			r.rec.info.NewMaster = s.Current.Pid
		}
		switch s.State {
		case Running:
			return r.rec.finish(Noop, nil, "nothing to %s: master %d serves alone", what, s.Current.Pid)
		case Stopped:
			return r.rec.finish(Refused, s.CurrentErr, "refused: no nginx master (%v)", s.CurrentErr)
		}
		return body(r, s)
	})
}
