package bench

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// since is the time from from to at in ms, or -1 when at was not observed.
func since(from, at time.Duration) float64 {
	if at < 0 {
		return -1
	}
	return report.Millis(at - from)
}

// measure fills in r's counts and windows from what the load saw.
func measure(r *report.Run, bed Bed, res testbed.TrafficResult) {
	r.StreamSent, r.StreamFailed, r.StreamErrors = res.Stream.Sent, res.Stream.Failed, res.Stream.Errors
	r.WrkRequests, r.WrkFailed = res.Wrk.Requests, res.Wrk.Failed()
	r.WrkErrors = map[string]int{}
	for k, v := range map[string]int{"non-2xx/3xx": res.Wrk.Non2xx3xx, "connect": res.Wrk.Connect, "read": res.Wrk.Read, "write": res.Wrk.Write, "timeout": res.Wrk.Timeout} {
		if v > 0 {
			r.WrkErrors[k] = v
		}
	}
	if res.WrkErr != nil {
		r.WrkError = res.WrkErr.Error()
		r.WrkFailed++ // a wrk that did not run counts as a failure, as in the tests
	}
	r.Downloads = len(res.Downloads)
	for _, d := range res.Downloads {
		if !d.OK {
			r.Cuts = append(r.Cuts, report.Mark{Label: "download cut", At: d.Duration})
			r.DownloadsCut++
			r.DownloadErrors = append(r.DownloadErrors, d.Err)
		}
	}
	start, end := report.Dur(r.SwapStartMS), report.Dur(r.SwapEndMS)
	r.Steady = report.LatencyIn(res.Stream, report.Dur(r.SteadyFromMS), start)
	r.Swap = report.LatencyIn(res.Stream, start, end)
	r.P50Ratio = report.Ratio(r.Swap.P50MS, r.Steady.P50MS)
	r.P99Ratio = report.Ratio(r.Swap.P99MS, r.Steady.P99MS)
	r.MaxRatio = report.Ratio(r.Swap.MaxMS, r.Steady.MaxMS)
	var spans []report.Span
	for _, m := range r.Marks {
		spans = append(spans, report.Span{From: m.At, To: m.At + time.Second})
	}
	r.AfterSignals = report.LatencyInSpans(res.Stream, spans)
	r.AfterSignalsP99Ratio = report.Ratio(r.AfterSignals.P99MS, r.Steady.P99MS)
	r.FloorRatio = -1 // no floor measured (a run in a box)
	if r.FloorMS > 0 {
		r.FloorRatio = report.Ratio(r.NewServingMS, r.FloorMS)
	}
	r.Buckets = res.Stream.Timeline(bed.Bucket)
}

// endState checks the end of a swap: the pid file names the new master, which runs the build
// installed at n.Binary with all its workers, no .oldbin is left, and no other process of the
// prefix runs. It returns "ok" or what is wrong.
func endState(n *testbed.Nginx, nm nginx.Proc, workers int) string {
	pid, err := nginx.ReadPidFile(n.PidFile)
	if err != nil {
		return err.Error()
	}
	if nm.Pid != 0 && pid != nm.Pid {
		return fmt.Sprintf("pid file names %d, not the new master %d", pid, nm.Pid)
	}
	exe, err := nginx.ReadExe(pid)
	if err != nil {
		return err.Error()
	}
	bin, err := nginx.StatBinary(n.Binary)
	if err != nil {
		return err.Error()
	}
	if !exe.SameFile(bin) {
		return fmt.Sprintf("master %d runs the old build", pid)
	}
	ws, _, err := nginx.Workers(pid)
	if err != nil || len(ws) != workers {
		return fmt.Sprintf("master %d has %d of %d workers (%v)", pid, len(ws), workers, err)
	}
	if _, err := os.Stat(nginx.OldbinPath(n.PidFile)); !errors.Is(err, os.ErrNotExist) {
		return "nginx.pid.oldbin left behind"
	}
	if ps := PrefixProcs(n.Binary); len(ps) != 1+workers {
		return fmt.Sprintf("%d nginx processes, want %d", len(ps), 1+workers)
	}
	return "ok"
}
