package upgrade

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/health"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Status is what status reports: the state, each master and the binary on disk.
type Status struct {
	State          State          `json:"state"`
	PidFile        string         `json:"pid_file"`
	Problem        string         `json:"problem,omitempty"`
	Masters        []MasterStatus `json:"masters"`
	OnDisk         *DiskBinary    `json:"binary_on_disk,omitempty"`
	UpgradePending bool           `json:"upgrade_pending"` // the binary on disk is not the one running
	// ReexecPending: the current master or its workers map code files replaced on disk since they
	// started (the master's stale_files): they run old code until nginx is re-executed.
	ReexecPending bool `json:"reexec_pending"`
	// Draining is the old master of a finished swap, quitting, in state old-draining.
	Draining *Draining `json:"draining,omitempty"`
	// FailedSwap: the binary on disk failed a swap (or restore put the kept build back); see
	// AddFailedSwap.
	FailedSwap *FailedSwapStatus `json:"failed_swap,omitempty"`
}

// MasterStatus describes one master.
type MasterStatus struct {
	Role     string `json:"role"` // "current" (pid file) or "old" (.oldbin)
	Pid      int    `json:"pid"`
	Exe      string `json:"exe"`
	Deleted  bool   `json:"exe_deleted"` // replaced on disk since the master started
	Inode    uint64 `json:"exe_inode"`
	Version  string `json:"version,omitempty"`
	Workers  []int  `json:"workers"`          // accepting connections
	Stopping []int  `json:"workers_stopping"` // finishing requests, no longer accepting
	// Stale lists the code files (the binary, modules, libraries) the master and its workers map
	// that were deleted or replaced on disk; StaleError says why they could not be read.
	Stale      []StaleFile `json:"stale_files"`
	StaleError string      `json:"stale_files_error,omitempty"`
	// Listeners are the sockets the master listens on (TCP, UDP, unix); the checks dial all but UDP.
	Listeners      []health.Listener `json:"listeners"`
	ListenersError string            `json:"listeners_error,omitempty"`
}

// StaleFile is a file of code that processes run though their path names another file now, or none.
type StaleFile struct {
	Path    string         `json:"path"`
	Kind    nginx.FileKind `json:"kind"`              // binary, module or library
	Deleted bool           `json:"deleted"`           // unlinked; else replaced by another file
	Package string         `json:"package,omitempty"` // what owns the path now, when dpkg knows
	Pids    []int          `json:"pids"`              // the processes that map it
}

// DiskBinary is the file the current master would exec on USR2.
type DiskBinary struct {
	Path    string `json:"path"`
	Inode   uint64 `json:"inode,omitempty"`
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ReadStatus looks at the nginx of pidFile. It changes nothing and takes no lock.
func ReadStatus(ctx context.Context, pidFile string) Status {
	s := ReadState(pidFile)
	st := Status{State: s.State, PidFile: pidFile}
	if s.Current == nil && s.CurrentErr != nil {
		st.Problem = s.CurrentErr.Error()
	}
	if s.Old != nil {
		st.Masters = append(st.Masters, masterStatus(ctx, "old", *s.Old))
	}
	if s.Current != nil && (s.Old == nil || s.Current.Pid != s.Old.Pid) {
		cur := masterStatus(ctx, "current", *s.Current)
		st.Masters = append(st.Masters, cur)
		var onDisk nginx.Binary
		st.OnDisk, onDisk = diskBinary(ctx, s.Current.Args.Binary)
		st.UpgradePending = st.OnDisk.Error == "" && !s.Current.Exe.SameFile(onDisk)
		st.ReexecPending = len(cur.Stale) > 0
	}
	if s.State == OldDraining {
		d := readDraining(s.Old.Proc, s.Current.Proc)
		st.Draining = &d
	}
	addOwners(ctx, st.Masters)
	return st
}

// ownersTimeout bounds the dpkg lookup: package names are a courtesy, never worth a slow status.
const ownersTimeout = 2 * time.Second

// addOwners names the package owning each stale file's path now, when dpkg knows it.
func addOwners(ctx context.Context, masters []MasterStatus) {
	var paths []string
	for _, m := range masters {
		for _, f := range m.Stale {
			if !slices.Contains(paths, f.Path) {
				paths = append(paths, f.Path)
			}
		}
	}
	if len(paths) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ownersTimeout)
	defer cancel()
	owners := packageOwners(ctx, paths)
	for _, m := range masters {
		for i := range m.Stale {
			m.Stale[i].Package = owners[m.Stale[i].Path]
		}
	}
}

func masterStatus(ctx context.Context, role string, m nginx.Master) MasterStatus {
	ms := MasterStatus{Role: role, Pid: m.Pid, Exe: m.Exe.Path, Deleted: m.Exe.Deleted, Inode: m.Exe.Ino,
		Workers: []int{}, Stopping: []int{}, Stale: []StaleFile{}}
	if files, err := nginx.StaleCode(m.Pid, m.Exe.Path); err != nil {
		ms.StaleError = err.Error()
	} else {
		for _, f := range files {
			ms.Stale = append(ms.Stale, StaleFile{Path: f.Path, Kind: f.Kind, Deleted: f.Deleted, Pids: f.Pids})
		}
	}
	ls, err := health.Listeners(m.Pid)
	if err != nil {
		ms.ListenersError = err.Error()
	}
	ms.Listeners = append([]health.Listener{}, ls...) // a list, never null
	ms.Version, _ = nginx.Version(ctx, fmt.Sprintf("/proc/%d/exe", m.Pid))
	serving, stopping, _ := nginx.Workers(m.Pid)
	for _, w := range serving {
		ms.Workers = append(ms.Workers, w.Pid)
	}
	for _, w := range stopping {
		ms.Stopping = append(ms.Stopping, w.Pid)
	}
	return ms
}

// diskBinary describes the binary at path for status, and identifies it for comparison.
func diskBinary(ctx context.Context, path string) (*DiskBinary, nginx.Binary) {
	d := &DiskBinary{Path: path}
	if !filepath.IsAbs(path) {
		d.Error = "a relative path, resolved by nginx at exec time; start nginx by its absolute path"
		return d, nginx.Binary{}
	}
	b, err := nginx.StatBinary(path)
	if err != nil {
		d.Error = err.Error()
		return d, b
	}
	d.Inode = b.Ino
	// status runs as root too: only ask a binary root alone could have written for its version.
	if err := nginx.TrustBinary(path); err != nil {
		d.Error = err.Error()
		return d, b
	}
	if d.Version, err = nginx.Version(ctx, path); err != nil {
		d.Error = err.Error()
	}
	return d, b
}

// Write prints the status for a person.
func (st Status) Write(w io.Writer) {
	fmt.Fprintf(w, "state:    %s\n", st.State)
	fmt.Fprintf(w, "pid file: %s\n", st.PidFile)
	if st.Problem != "" {
		fmt.Fprintf(w, "problem:  %s\n", st.Problem)
	}
	for _, m := range st.Masters {
		deleted := ""
		if m.Deleted {
			deleted = " (replaced on disk)"
		}
		fmt.Fprintf(w, "%-8s  master %d: %s%s inode %d, %s; workers %s", m.Role+":", m.Pid, m.Exe, deleted, m.Inode, m.Version, pids(m.Workers))
		if len(m.Stopping) > 0 {
			fmt.Fprintf(w, ", stopping %s", pids(m.Stopping))
		}
		fmt.Fprintln(w)
		for _, f := range m.Stale {
			how := "replaced on disk"
			if f.Deleted {
				how = "deleted on disk"
			}
			if f.Package != "" {
				how += "; now from package " + f.Package
			}
			fmt.Fprintf(w, "stale:    %s (%s, %s) mapped by %s\n", f.Path, f.Kind, how, pids(f.Pids))
		}
		if m.StaleError != "" {
			fmt.Fprintf(w, "stale:    not known: %s\n", m.StaleError)
		}
		writeListeners(w, m)
	}
	if d := st.OnDisk; d != nil {
		if d.Error != "" {
			fmt.Fprintf(w, "on disk:  %s: %s\n", d.Path, d.Error)
		} else {
			fmt.Fprintf(w, "on disk:  %s inode %d, %s\n", d.Path, d.Inode, d.Version)
		}
	}
	if d := st.Draining; d != nil {
		fmt.Fprintf(w, "draining: %s; the swap finished (new master started %s ago) and it quits on its own\n", d, time.Duration(d.SwapAgeSeconds)*time.Second)
	}
	st.writeFailedSwap(w)
	switch {
	case st.FailedSwap != nil && st.FailedSwap.OnDisk:
		fmt.Fprintln(w, "next:     run nginx-upgradectl restore: it puts the kept build back, so that a restart starts it")
	case st.Draining != nil && (st.UpgradePending || st.ReexecPending):
		fmt.Fprintln(w, "next:     a new swap waits for the old master's exit: run upgrade --wait DURATION (without --wait it is refused meanwhile)")
	case st.State.HalfDone():
		fmt.Fprintln(w, "next:     an upgrade is half-done; run commit to keep the new build or rollback to keep the old")
	case st.UpgradePending:
		fmt.Fprintln(w, "next:     the binary on disk differs from the running one; run upgrade")
	case st.ReexecPending:
		fmt.Fprintln(w, "next:     re-exec pending: nginx runs code replaced on disk (see stale); run upgrade to re-execute it live")
	}
}

// writeListeners prints a master's listening sockets, one line each network, UDP marked as not
// dialled.
func writeListeners(w io.Writer, m MasterStatus) {
	if m.ListenersError != "" {
		fmt.Fprintf(w, "listen:   not known: %s\n", m.ListenersError)
	}
	for _, network := range []string{"tcp", "unix", "udp"} {
		var addrs []string
		for _, l := range m.Listeners {
			if l.Network == network {
				addrs = append(addrs, l.Addr)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		note := ""
		if network == "udp" {
			note = " (listed, not dialled by the checks)"
		}
		fmt.Fprintf(w, "listen:   %s %s%s\n", network, strings.Join(addrs, " "), note)
	}
}

func pids(p []int) string {
	if len(p) == 0 {
		return "none"
	}
	s := make([]string, len(p))
	for i, n := range p {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " ")
}
