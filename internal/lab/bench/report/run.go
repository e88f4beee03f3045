package report

import (
	"fmt"
	"slices"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
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
	HelperRSSKiB    int64     `json:"helper_max_rss_kib,omitempty"` // VmHWM (see bench.Usage)
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
	// On a scale axis: where, and what the axis measures.
	Point *Point   `json:"point,omitempty"`
	Axis  *AxisRun `json:"axis,omitempty"`

	// For the run's timeline (ChartOf), not kept in results.json: the stream per bucket, and when
	// downloads were cut.
	Buckets []load.Bucket `json:"-"`
	Cuts    []Mark        `json:"-"`
}

// ChartOf draws a run, the stream in buckets of bucket.
func ChartOf(r Run, bucket time.Duration, title string) Chart {
	c := Chart{
		Title: title,
		Subtitle: fmt.Sprintf("run %d, %d workers: stream %d sent, %d failed; wrk %d requests, %d failed; %d of %d downloads cut; p99 %.1f ms steady, %.1f ms in the swap",
			r.Rep, r.Workers, r.StreamSent, r.StreamFailed, r.WrkRequests, r.WrkFailed, r.DownloadsCut, r.Downloads, r.Steady.P99MS, r.Swap.P99MS),
		Buckets: r.Buckets,
		Bucket:  bucket,
		Marks:   r.Marks,
		Spans: []Span{
			{Label: "steady", From: Dur(r.SteadyFromMS), To: Dur(r.SwapStartMS), Fill: "#eef6ee"},
			{Label: "swap window", From: Dur(r.SwapStartMS), To: Dur(r.SwapEndMS), Fill: "#fdf1e2"},
		},
	}
	c.Events = slices.Clone(r.Events)
	start := Dur(r.SwapStartMS)
	if r.NewServingMS >= 0 {
		c.Events = append(c.Events, Mark{"new serving", start + Dur(r.NewServingMS)})
	}
	if r.OldGoneMS >= 0 {
		c.Events = append(c.Events, Mark{"old gone", start + Dur(r.OldGoneMS)})
	}
	if len(r.Cuts) > 0 {
		first := slices.MinFunc(r.Cuts, func(a, b Mark) int { return int(a.At - b.At) })
		label := "download cut"
		if len(r.Cuts) > 1 {
			label = fmt.Sprintf("%d downloads cut", len(r.Cuts))
		}
		c.Events = append(c.Events, Mark{label, first.At})
	}
	return c
}
