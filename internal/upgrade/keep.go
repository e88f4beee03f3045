package upgrade

// A rollback that lasts past the next restart: before USR2 the running build is kept (keep), and
// after a rollback from a binary that failed, a record says so (markFailed) until restore puts
// the kept build back or a newer build replaces the failed one.

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/keep"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

const (
	StepKeep    Step = "keep"
	StepRestore Step = "restore"
)

func (r *run) store() keep.Store { return keep.Store{Dir: cmp.Or(r.opts.StateDir, keep.DefaultDir)} }

// stageKeep starts copying the build the old master runs, and writing its description, into the
// store beside the -T: keep then only names them (keep.Staged), off the way to USR2, and a run
// that does not swap leaves nothing behind. The description waits for the running build's
// version and package, which the record after the -T waits for anyway.
func (r *run) stageKeep() {
	st, exe := r.store(), fmt.Sprintf("/proc/%d/exe", r.old.Pid)
	r.staged = beside(func() (*keep.Staged, error) {
		s, err := st.Stage(exe)
		if err != nil {
			return nil, err
		}
		if err := s.Describe(r.oldBuild()); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	})
}

// runningSum is the sha256 of the build the old master runs: the staged copy's, which read the
// build once already, or hashed now where none was staged.
func (r *run) runningSum() string {
	if r.staged != nil {
		if s, err := r.staged(); err == nil {
			return s.SHA256()
		}
	}
	sum, _ := nginx.HashFile(fmt.Sprintf("/proc/%d/exe", r.old.Pid))
	return sum
}

// dropStaged drops a staged copy a run did not keep.
func (r *run) dropStaged() {
	if r.staged == nil {
		return
	}
	if s, err := r.staged(); err == nil {
		s.Close()
	}
}

// keepRunning keeps the build the old master runs, read through /proc/PID/exe, before anything
// is signalled: after a rollback it may be the only copy left of the build that works. It names
// the copy staged beside the -T, or copies now where none could be staged (no store yet, or no
// O_TMPFILE on its file system).
func (r *run) keepRunning() *Result {
	st := r.store()
	var kept keep.Build
	staged, err := r.staged()
	how := "copied while nginx -T ran"
	if err == nil {
		kept, err = staged.Keep()
	} else {
		how = fmt.Sprintf("copied before USR2: %v", err)
		kept, err = st.Keep(fmt.Sprintf("/proc/%d/exe", r.old.Pid), r.oldBuild())
	}
	if err != nil {
		return r.rec.finish(Refused, err, "refused, nothing signalled: %v; a swap first keeps the running build, which restore puts back after a rollback: free space in %s (or pass --state-dir)", err, st.Dir)
	}
	r.rec.info.Old.SHA256 = kept.SHA256
	pkg := ""
	if kept.Package != "" {
		pkg = ", package " + kept.Package
	}
	r.rec.record(StepKeep, "ok", nil, "kept the running build (sha256 %.12s%s) as %s (%s)", kept.SHA256, pkg, st.File(kept.SHA256), how)
	return nil
}

// forgetFailed drops the record of a failed swap once another build serves, verified: it is
// history then. Not before: its removal restarts nginx-upgrade.service (nginx-upgrade-failed.path),
// whose status must find the swap done. A restore keeps it: packaging/hook needs it to lift the
// diversion.
func (r *run) forgetFailed() error {
	st := r.store()
	f, err := st.Failed()
	if err != nil || f == nil || f.Restored != nil || f.FailedSHA256 == r.bin.SHA256 {
		return nil
	}
	return st.ForgetFailed()
}

// markFailed records, after a rollback from a new binary, that the binary on disk failed a swap,
// and returns what the outcome adds: that a restart would start it, and the way back.
func (r *run) markFailed() string {
	if !slices.Contains(r.rec.info.Reasons, ReasonBinary) || r.rec.info.Old.SHA256 == "" {
		return "" // a re-exec of the same binary: a restart starts the build that serves
	}
	f := keep.FailedSwap{Path: r.bin.Path, FailedSHA256: r.bin.SHA256, FailedVersion: r.bin.Version,
		KeptSHA256: r.rec.info.Old.SHA256, UpgradeID: r.opts.UpgradeID, Time: time.Now()}
	msg := fmt.Sprintf("; the build that failed stays at %s and a restart would start it: run nginx-upgradectl restore", r.bin.Path)
	if err := r.store().RecordFailed(f); err != nil {
		msg += fmt.Sprintf(" (the failed swap was not recorded: %v)", err)
	}
	return msg
}

// runningPackage names the package of a master's binary: dpkg names the package of the file on
// disk, which the binary is unless it was deleted (replaced) since the master started.
func runningPackage(ctx context.Context, exe nginx.Exe) string {
	if exe.Deleted {
		return ""
	}
	return packageVersion(ctx, exe.Path)
}

// packageVersion names the dpkg package owning path and its installed version ("nginx
// 1.22.1-9"), or "" when dpkg does not know it, or when path is diverted (after restore): the
// package's file is elsewhere then.
func packageVersion(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, ownersTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "dpkg-divert", "--truename", path).Output(); err != nil || strings.TrimSpace(string(out)) != path {
		return ""
	}
	pkg, _, _ := strings.Cut(packageOwners(ctx, []string{path})[path], ", ")
	if pkg == "" {
		return ""
	}
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", "--", pkg).Output()
	if err != nil || len(out) == 0 {
		return pkg
	}
	return pkg + " " + string(out)
}

// Restore puts the kept build back on disk in place of the build that failed a swap, so that a
// restart of nginx, or a reboot, starts the build that serves (see keep.Store.Restore). It
// signals nothing.
func Restore(ctx context.Context, opts Options) *Result {
	return begin(ctx, opts, func(r *run) *Result {
		st := r.store()
		f, err := st.Restore(ctx)
		if err != nil {
			return r.rec.finish(Refused, err, "refused, nothing changed: %v", err)
		}
		r.rec.record(StepRestore, "ok", nil, "dpkg's %s (the build that failed, sha256 %.12s) diverted to %s", f.Path, f.FailedSHA256, f.Restored.DivertedTo)
		return r.rec.finish(Success, nil, "restored: %s is the kept build again (sha256 %.12s), the one serving when the swap failed at %s; a restart of nginx starts it; the next nginx package lifts the diversion and is swapped live as usual", f.Path, f.KeptSHA256, f.Time.Format(time.RFC3339))
	})
}
