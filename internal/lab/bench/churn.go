package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// churnSlowSize makes each download last about a second: most swaps have one in flight on the
// old workers when QUIT is sent, without each swap waiting long for it.
const churnSlowSize = 1 << 20

// Churn swaps swaps times in a row with the helper (--soak 0s whatever ctl.Soak says), installing the other build each
// time, under the stream, wrk and a loop of slow downloads, and checks what is left after each.
func Churn(ctx context.Context, bed Bed, ctl Ctl, swaps, workers int) (res report.ChurnResult, err error) {
	res = report.ChurnResult{Swaps: swaps, Workers: workers}
	if res.BusyBeforePct, err = WaitQuiet(ctx, bed.QuietBelow, bed.QuietWait); err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp(bed.TmpDir, "churn-")
	if err != nil {
		return res, fmt.Errorf("churn dir: %w", err)
	}
	defer os.RemoveAll(dir)
	n, err := testbed.Setup(dir, bed.Builds.Old, testbed.Config{Workers: workers})
	if err != nil {
		return res, fmt.Errorf("churn: set up: %w", err)
	}
	defer stopAll(n)
	sum, err := prepareSlow(n, churnSlowSize)
	if err != nil {
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

	cctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	stream, err := load.StartStream(cctx, load.StreamConfig{URL: n.URL("/"), Rate: bed.Load.Rate, Timeout: bed.Load.Timeout})
	if err != nil {
		return res, fmt.Errorf("churn: %w", err)
	}
	bg := startChurnLoad(cctx, n, bed.Load, sum)

	start := time.Now()
	builds := []string{bed.Builds.New, bed.Builds.Old}
	for i := range swaps {
		if ctx.Err() != nil {
			break
		}
		if err := n.Install(builds[i%2]); err != nil {
			return res, fmt.Errorf("churn: install: %w", err)
		}
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
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

	stopLoad()
	sr := stream.Stop()
	res.StreamSent, res.StreamFailed, res.StreamErrors = sr.Sent, sr.Failed, sr.Errors
	bg.wait(&res)
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
	if res.BusyAfterPct, err = Busy(ctx, time.Second); err != nil {
		return res, err
	}
	k := min(10, len(res.SwapMS))
	res.FirstTenMS, res.LastTenMS = report.Median(res.SwapMS[:k]), report.Median(res.SwapMS[len(res.SwapMS)-k:])
	return res, nil
}

// churnLoad is wrk in back-to-back 10 s runs (wrk's length is fixed when it starts) and two
// loops of slow downloads, until ctx ends.
type churnLoad struct {
	wg        sync.WaitGroup
	mu        sync.Mutex
	wrk       load.WrkResult
	wrkFailed int
	dls, cut  int
}

func startChurnLoad(ctx context.Context, n *testbed.Nginx, l Load, sum string) *churnLoad {
	c := &churnLoad{}
	c.wg.Go(func() {
		for ctx.Err() == nil {
			w, err := load.StartWrk(context.WithoutCancel(ctx), load.WrkConfig{URL: n.URL("/"), Duration: 10 * time.Second, Connections: l.WrkConns, Threads: 1})
			if err != nil {
				c.add(func() { c.wrkFailed++ })
				return
			}
			r, err := w.Wait()
			c.add(func() {
				c.wrk.Requests += r.Requests
				c.wrkFailed += r.Failed()
				if err != nil {
					c.wrkFailed++
				}
			})
		}
	})
	for range 2 {
		c.wg.Go(func() {
			for ctx.Err() == nil {
				// Not cancelled by ctx: a download in flight when the churn ends runs to its end,
				// bounded well past its expected second.
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				d := load.Download(dctx, load.File{URL: n.URL(slowPath), Size: churnSlowSize, SHA256: sum})
				cancel()
				c.add(func() {
					c.dls++
					if !d.OK {
						c.cut++
					}
				})
			}
		})
	}
	return c
}

func (c *churnLoad) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

// wait waits for the last wrk run and downloads and adds their counts to res.
func (c *churnLoad) wait(res *report.ChurnResult) {
	c.wg.Wait()
	res.WrkRequests, res.WrkFailed = c.wrk.Requests, c.wrkFailed
	res.Downloads, res.DownloadsCut = c.dls, c.cut
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
