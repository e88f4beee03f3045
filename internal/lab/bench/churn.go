package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// churnSlowSize makes each download last about a second: most swaps have one in flight on the
// old workers when QUIT is sent, without each swap waiting long for it.
const churnSlowSize = 1 << 20

// churnSwapTimeout bounds each swap of the churn.
const churnSwapTimeout = 2 * time.Minute

// Churn swaps swaps times in a row with the helper (--soak 0s whatever ctl.Soak says), installing the other build each
// time, under the stream, wrk and a loop of slow downloads, and checks what is left after each.
func Churn(ctx context.Context, bed Bed, ctl Ctl, swaps, workers int) (res report.ChurnResult, err error) {
	res = report.ChurnResult{Swaps: swaps, Workers: workers}
	var dir string
	if res.BusyBeforePct, dir, err = quietDir(ctx, bed, "churn"); err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	n, err := testbed.Setup(dir, bed.Builds.Old, testbed.Config{Workers: workers})
	if err != nil {
		return res, fmt.Errorf("churn: set up: %w", err)
	}
	defer stopAll(n)
	if err := prepareSlow(n, churnSlowSize); err != nil {
		return res, err
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := n.Start(sctx, testbed.Config{Workers: workers}); err != nil {
		return res, err
	}
	before, err := listFiles(dir)
	if err != nil {
		return res, err
	}
	res.MasterFDsFirst = countFDs(n.Master())

	// wrk runs until the churn ends (StopNow): its length only has to outlast every swap. A new
	// download starts as each one ends. A churn that fails half-way stops the load with lctx.
	l := bed.Load
	l.WrkDuration = time.Duration(swaps+1) * churnSwapTimeout
	l.Downloads, l.DownloadSize, l.KeepDownloading = 2, churnSlowSize, true
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	tr, err := testbed.StartTraffic(lctx, n.Site(), l)
	if err != nil {
		return res, fmt.Errorf("churn: start load: %w", err)
	}

	start := time.Now()
	builds := []string{bed.Builds.New, bed.Builds.Old}
	for i := range swaps {
		if ctx.Err() != nil {
			break
		}
		if err := n.Install(builds[i%2]); err != nil {
			return res, fmt.Errorf("churn: install: %w", err)
		}
		tctx, cancel := context.WithTimeout(ctx, churnSwapTimeout)
		args := []string{"upgrade", "--pid-file", n.PidFile, "--soak", "0s", "--health", n.URL("/health"), "--json"}
		if ctl.AuditLog != "" {
			args = append(args, "--audit-log", ctl.AuditLog)
		}
		rep, _, err := runCtl(tctx, ctl.Path, args...)
		cancel()
		switch {
		case err != nil && len(res.Errors) < 5:
			res.Errors = append(res.Errors, fmt.Sprintf("swap %d: %v", i+1, err))
		case err == nil:
			res.Succeeded++
		}
		if rep != nil {
			res.SwapMS = append(res.SwapMS, float64(rep.DurationMS))
		}
		leaked := len(PrefixProcs(n.Binary)) - (1 + workers)
		res.LeakedProcsMax = max(res.LeakedProcsMax, leaked)
		fds := countFDs(n.Master())
		res.MasterFDsLast, res.MasterFDsMax = fds, max(res.MasterFDsMax, fds)
	}
	res.DurationS = time.Since(start).Seconds()

	tres := tr.StopNow()
	res.StreamSent, res.StreamFailed, res.StreamErrors = tres.Stream.Sent, tres.Stream.Failed, tres.Stream.Errors
	res.WrkRequests, res.WrkFailed = tres.Wrk.Requests, tres.Wrk.Failed()
	if tres.WrkErr != nil {
		res.WrkFailed++ // a wrk that did not run counts as a failure, as in the tests
	}
	res.Downloads = len(tres.Downloads)
	for _, d := range tres.Downloads {
		if !d.OK {
			res.DownloadsCut++
		}
	}
	res.LeakedProcsEnd = len(PrefixProcs(n.Binary)) - (1 + workers)
	after, err := listFiles(dir)
	if err != nil {
		return res, err
	}
	for _, f := range after {
		if !slices.Contains(before, f) {
			res.StrayFiles = append(res.StrayFiles, f)
		}
	}
	if res.BusyAfterPct, err = Busy(ctx, busySample); err != nil {
		return res, err
	}
	k := min(10, len(res.SwapMS))
	res.FirstTenMS, res.LastTenMS = report.Median(res.SwapMS[:k]), report.Median(res.SwapMS[len(res.SwapMS)-k:])
	return res, nil
}

// countFDs counts pid's open descriptors (-1 if it cannot be read).
func countFDs(pid int) int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(fds)
}

// listFiles lists every file and directory under dir, relative to it.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return files, nil
}
