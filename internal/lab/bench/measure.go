package bench

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Run is what one run measured. Times are in milliseconds; -1 means not observed.
type Run struct {
	Method   string `json:"method"`
	Rep      int    `json:"rep"`
	Workers  int    `json:"workers"`
	Took     bool   `json:"took"`      // the new build serves alone at the end, all workers up
	EndState string `json:"end_state"` // what was wrong at the end, or "ok"
	ExitCode int    `json:"exit_code"`
	Detail   string `json:"detail"`
	Error    string `json:"error,omitempty"`

	StreamSent     int            `json:"stream_sent"`
	StreamFailed   int            `json:"stream_failed"`
	StreamErrors   map[string]int `json:"stream_errors,omitempty"`
	WrkRequests    int            `json:"wrk_requests"`
	WrkFailed      int            `json:"wrk_failed"`
	WrkErrors      map[string]int `json:"wrk_errors,omitempty"`
	WrkError       string         `json:"wrk_error,omitempty"`
	Downloads      int            `json:"downloads"`
	DownloadsCut   int            `json:"downloads_cut"`
	DownloadErrors []string       `json:"download_errors,omitempty"`

	Steady   Latency `json:"steady"` // the stream before the swap
	Swap     Latency `json:"swap"`   // the stream from the swap's start to its end
	P50Ratio float64 `json:"p50_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
	MaxRatio float64 `json:"max_ratio"`
	// The stream in the second after each signal: what the signals themselves cost, apart from
	// whatever else a long swap window catches on a busy machine.
	AfterSignals         Latency `json:"after_signals"`
	AfterSignalsP99Ratio float64 `json:"after_signals_p99_ratio"`

	SwapStartMS     float64   `json:"swap_start_ms"`      // on the load's timeline
	SwapEndMS       float64   `json:"swap_end_ms"`        // the method returned, new serving, old gone: the latest
	NewServingMS    float64   `json:"new_serving_ms"`     // swap start until a new master has all its workers
	USR2ToServingMS float64   `json:"usr2_to_serving_ms"` // USR2 sent until then (-1 for a restart)
	OldGoneMS       float64   `json:"old_gone_ms"`        // swap start until the old master exited
	FloorMS         float64   `json:"floor_ms"`           // median cold start of the new build under the same load
	FloorTriesMS    []float64 `json:"floor_tries_ms"`
	FloorIdleMS     float64   `json:"floor_idle_ms"` // median cold start with no load at all
	FloorIdleTries  []float64 `json:"floor_idle_tries_ms"`
	FloorRatio      float64   `json:"floor_ratio"` // NewServingMS / FloorMS
	SteadyFromMS    float64   `json:"steady_from_ms"`
	HelperRSSKiB    int64     `json:"helper_max_rss_kib,omitempty"` // VmHWM (see Usage)
	HelperRusageRSS int64     `json:"helper_rusage_max_rss_kib,omitempty"`
	HelperCPUMS     float64   `json:"helper_cpu_ms,omitempty"`

	// How busy the machine's CPUs were, with the bench idle, just before and after the run: other
	// work on a shared machine shows here.
	BusyBeforePct float64 `json:"busy_before_pct"`
	BusyAfterPct  float64 `json:"busy_after_pct"`

	Marks []Mark `json:"marks"`
	// More moments the bench saw than the new master serving and the old one gone: in a box,
	// when the pid file first named each new master.
	Events []Mark      `json:"events,omitempty"`
	Idle   *IdleResult `json:"idle,omitempty"`

	timeline []load.Bucket
	cuts     []Mark // when downloads were cut
}

// since is the time from from to at in ms, or -1 when at was not observed.
func since(from, at time.Duration) float64 {
	if at < 0 {
		return -1
	}
	return ms(at - from)
}

// measure fills in the counts and windows from what the load saw.
func (r *Run) measure(bed Bed, res trafficResult) {
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
			r.cuts = append(r.cuts, Mark{Label: "download cut", At: d.Duration})
			r.DownloadsCut++
			r.DownloadErrors = append(r.DownloadErrors, d.Err)
		}
	}
	start, end := msDur(r.SwapStartMS), msDur(r.SwapEndMS)
	r.Steady = latencyIn(res.Stream, msDur(r.SteadyFromMS), start)
	r.Swap = latencyIn(res.Stream, start, end)
	r.P50Ratio = Ratio(r.Swap.P50MS, r.Steady.P50MS)
	r.P99Ratio = Ratio(r.Swap.P99MS, r.Steady.P99MS)
	r.MaxRatio = Ratio(r.Swap.MaxMS, r.Steady.MaxMS)
	var spans []Span
	for _, m := range r.Marks {
		spans = append(spans, Span{From: m.At, To: m.At + time.Second})
	}
	r.AfterSignals = latencyInSpans(res.Stream, spans)
	r.AfterSignalsP99Ratio = Ratio(r.AfterSignals.P99MS, r.Steady.P99MS)
	r.FloorRatio = -1 // no floor measured (a run in a box)
	if r.FloorMS > 0 {
		r.FloorRatio = Ratio(r.NewServingMS, r.FloorMS)
	}
	r.timeline = res.Stream.Timeline(bed.Bucket)
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
