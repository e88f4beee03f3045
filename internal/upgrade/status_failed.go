package upgrade

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/keep"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// FailedSwapStatus is what status says of the last failed swap, while it matters: the binary on
// disk is the one that failed (a restart would start it), or the kept build restore put back.
type FailedSwapStatus struct {
	keep.FailedSwap
	// OnDisk: the binary at Path is still the one that failed; status exits non-zero.
	OnDisk  bool   `json:"failed_binary_on_disk"`
	Message string `json:"message"`
}

// AddFailedSwap reads the record of a failed swap in dir (keep.DefaultDir when "") and sets
// st.FailedSwap when the binary it names is still on disk, or the kept build stands in for it.
// A record that cannot be read is a problem status shows: it may hide a failed build on disk.
func (st *Status) AddFailedSwap(dir string) {
	store := keep.Store{Dir: dir}
	if dir == "" {
		store.Dir = keep.DefaultDir
	}
	f, err := store.Failed()
	if err != nil {
		st.FailedSwap = &FailedSwapStatus{OnDisk: true, Message: fmt.Sprintf("the record of a failed swap cannot be read: %v", err)}
		return
	}
	if f == nil {
		return
	}
	sum, _ := nginx.HashFile(f.Path)
	running := ""
	if m := st.current(); m != nil {
		running, _ = nginx.HashFile(fmt.Sprintf("/proc/%d/exe", m.Pid))
	}
	switch {
	case sum == f.FailedSHA256 && running == sum:
		// A later swap to that build succeeded: it serves, so a restart starts what serves.
	case sum == f.FailedSHA256:
		st.FailedSwap = &FailedSwapStatus{FailedSwap: *f, OnDisk: true, Message: fmt.Sprintf(
			"the binary on disk failed a swap at %s (%s); a restart would start it; run nginx-upgradectl restore", f.Time.Format(time.RFC3339), f.UpgradeID)}
	case f.Restored != nil && sum == f.KeptSHA256:
		st.FailedSwap = &FailedSwapStatus{FailedSwap: *f, Message: fmt.Sprintf(
			"the kept build is back at %s (sha256 %.12s) since %s; the build that failed a swap at %s is diverted to %s until the next nginx package",
			f.Path, f.KeptSHA256, f.Restored.Time.Format(time.RFC3339), f.Time.Format(time.RFC3339), f.Restored.DivertedTo)}
		// The master runs the kept build from its deleted file, the same build as on disk now:
		// nothing to upgrade to, and its binary is not stale code.
		if m := st.current(); m != nil && running == sum {
			st.UpgradePending = false
			m.Stale = slices.DeleteFunc(m.Stale, func(f StaleFile) bool { return f.Kind == nginx.KindBinary })
			st.ReexecPending = len(m.Stale) > 0
		}
	}
}

// current is the master the pid file names, if any.
func (st *Status) current() *MasterStatus {
	for i := range st.Masters {
		if st.Masters[i].Role == "current" {
			return &st.Masters[i]
		}
	}
	return nil
}

// writeFailedSwap prints the failed swap's line, if any.
func (st Status) writeFailedSwap(w io.Writer) {
	if f := st.FailedSwap; f != nil {
		label := "restored:"
		if f.OnDisk {
			label = "DANGER:"
		}
		fmt.Fprintf(w, "%-9s %s\n", label, f.Message)
	}
}
