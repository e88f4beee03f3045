package report

import (
	"fmt"
	"slices"
	"strings"
)

// Axes holds the scale axes (issue 16): configuration size, TLS session resumption across the
// swap, and how the helper's cost grows with workers, connections and unrelated processes. Each
// point varies one thing of the default run.
type Axes struct {
	Config []AxisRow `json:"config,omitempty"`
	TLS    []AxisRow `json:"tls,omitempty"`
	Growth []AxisRow `json:"growth,omitempty"`
	Runs   []Run     `json:"runs,omitempty"`
	Errors []string  `json:"errors,omitempty"` // runs that could not be set up
}

// Point is where on an axis a run is.
type Point struct {
	Axis     string `json:"axis"` // config, tls, growth
	Name     string `json:"name"` // e.g. "servers=20000+certs=1000", "tls13-nokeyfile", "idle=50000"
	Servers  int    `json:"servers,omitempty"`
	Certs    int    `json:"certs,omitempty"`
	TLS      string `json:"tls,omitempty"` // "TLSv1.3", "TLSv1.2"
	KeyFile  bool   `json:"ticket_key_file,omitempty"`
	Idle     int    `json:"idle,omitempty"`
	Sleepers int    `json:"sleepers,omitempty"`
}

// AxisRun is what a run on an axis measured beyond a Run's usual fields. Times in ms.
type AxisRun struct {
	NginxTestMS  float64 `json:"nginx_test_ms"`  // the new build's own `nginx -t`, timed by the bench before the load
	HelperTestMS float64 `json:"helper_test_ms"` // the helper's `nginx -T`, as its preflight says (-1: not a helper run)
	PreflightMS  float64 `json:"preflight_ms"`   // the helper's start until its last preflight step
	// OverheadMS is the helper's own overhead: its start until the new build serves, minus its
	// -T and the new master's own start (USR2 until serving).
	OverheadMS float64  `json:"overhead_ms"`
	OwnCPUMS   float64  `json:"helper_own_cpu_ms"`      // the helper's CPU without its children's (nginx -T, -v)
	WallMS     float64  `json:"helper_wall_ms"`         // the helper's exec until its exit
	Note       string   `json:"note,omitempty"`         // the helper's preflight note
	Steps      []string `json:"helper_steps,omitempty"` // the helper's steps up to USR2, "ms step result"
	TLS        *TLSRun  `json:"tls,omitempty"`
}

// TLSRun is what the returning TLS visitors saw. Windows: before is the steady window; during is
// from the swap's start until a second after the new build served or the method's last signal,
// whichever is later; after is the five seconds that follow.
type TLSRun struct {
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Resumed int `json:"resumed"` // of the OK handshakes
	// NginxLogged and NginxResumed are nginx's own count (its access log's $ssl_session_reused) of
	// the handshakes that got an answer, and of those that resumed: the session-ID point's visitors
	// are openssl processes, and this checks their word.
	NginxLogged      int            `json:"nginx_logged,omitempty"`
	NginxResumed     int            `json:"nginx_resumed,omitempty"`
	Errors           map[string]int `json:"errors,omitempty"`
	ResumedBeforePct float64        `json:"resumed_before_pct"`
	ResumedDuringPct float64        `json:"resumed_during_pct"`
	ResumedAfterPct  float64        `json:"resumed_after_pct"`
	FullPerSSteady   float64        `json:"full_handshakes_per_s_steady"`
	FullPerSPeak     float64        `json:"full_handshakes_per_s_peak"` // the busiest second from the swap's start on
	NginxCPUSteady   float64        `json:"nginx_cpu_pct_steady"`       // % of one core, both generations
	NginxCPUSwap     float64        `json:"nginx_cpu_pct_during"`
	SteadyP99MS      float64        `json:"steady_p99_ms"`
	SwapP99MS        float64        `json:"during_p99_ms"`
	P99Ratio         float64        `json:"p99_ratio"`
	Series           []ResumeBucket `json:"series"`
}

// ResumeBucket is the TLS visitors' handshakes in one slice of the run, on the load's timeline.
type ResumeBucket struct {
	AtMS    float64 `json:"at_ms"`
	OK      int     `json:"ok"`
	Resumed int     `json:"resumed"`
	Failed  int     `json:"failed"`
}

// AxisRow is one point of an axis: the usual row over its runs, and medians of what the axis adds.
type AxisRow struct {
	Row
	Point        Point   `json:"point"`
	NginxTestMS  float64 `json:"nginx_test_ms"`
	HelperTestMS float64 `json:"helper_test_ms"`
	PreflightMS  float64 `json:"preflight_ms"`
	OverheadMS   float64 `json:"overhead_ms"`
	OwnCPUMS     float64 `json:"helper_own_cpu_ms"`
	WallMS       float64 `json:"helper_wall_ms"`
	Note         string  `json:"note,omitempty"`
	TLS          *TLSRun `json:"tls,omitempty"` // medians; Series is the representative run's
}

// AggregateAxis makes a point's row from its runs (medians; -1 where nothing was measured).
func AggregateAxis(row Row, p Point, runs []Run) AxisRow {
	a := AxisRow{Row: row, Point: p}
	var ax []AxisRun
	for _, r := range runs {
		if r.Axis != nil {
			ax = append(ax, *r.Axis)
		}
	}
	med := func(f func(AxisRun) float64) float64 { return Median(of(ax, f)) }
	a.NginxTestMS = med(func(x AxisRun) float64 { return x.NginxTestMS })
	a.HelperTestMS = med(func(x AxisRun) float64 { return x.HelperTestMS })
	a.PreflightMS = med(func(x AxisRun) float64 { return x.PreflightMS })
	a.OverheadMS = med(func(x AxisRun) float64 { return x.OverheadMS })
	a.OwnCPUMS = med(func(x AxisRun) float64 { return x.OwnCPUMS })
	a.WallMS = med(func(x AxisRun) float64 { return x.WallMS })
	for _, x := range ax {
		a.Note = cmpOr(a.Note, x.Note)
	}
	var ts []TLSRun
	for _, x := range ax {
		if x.TLS != nil {
			ts = append(ts, *x.TLS)
		}
	}
	if len(ts) > 0 {
		tm := func(f func(TLSRun) float64) float64 { return Median(of(ts, f)) }
		t := TLSRun{
			ResumedBeforePct: tm(func(t TLSRun) float64 { return t.ResumedBeforePct }),
			ResumedDuringPct: tm(func(t TLSRun) float64 { return t.ResumedDuringPct }),
			ResumedAfterPct:  tm(func(t TLSRun) float64 { return t.ResumedAfterPct }),
			FullPerSSteady:   tm(func(t TLSRun) float64 { return t.FullPerSSteady }),
			FullPerSPeak:     tm(func(t TLSRun) float64 { return t.FullPerSPeak }),
			NginxCPUSteady:   tm(func(t TLSRun) float64 { return t.NginxCPUSteady }),
			NginxCPUSwap:     tm(func(t TLSRun) float64 { return t.NginxCPUSwap }),
			SteadyP99MS:      tm(func(t TLSRun) float64 { return t.SteadyP99MS }),
			SwapP99MS:        tm(func(t TLSRun) float64 { return t.SwapP99MS }),
			P99Ratio:         tm(func(t TLSRun) float64 { return t.P99Ratio }),
		}
		for _, x := range ts {
			t.Sent += x.Sent
			t.Failed += x.Failed
			t.Resumed += x.Resumed
			t.NginxLogged += x.NginxLogged
			t.NginxResumed += x.NginxResumed
		}
		if i := Representative(runs); i >= 0 && runs[i].Axis != nil && runs[i].Axis.TLS != nil {
			t.Series = runs[i].Axis.TLS.Series
		}
		a.TLS = &t
	}
	return a
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// failedText is a row's failed requests and cut downloads, summed over its runs.
func failedText(r Row) string {
	return fmt.Sprintf("%d / %d", r.StreamFailed.Total+r.WrkFailed.Total, r.DownloadsCut.Total)
}

func (a *Axes) markdown() string {
	var b strings.Builder
	b.WriteString("## Scale axes: configuration size, TLS resumption, growth\n\n")
	b.WriteString("Each point varies one thing of the default run (the axes' load, above; our helper with `--soak 0s` unless named); " +
		"ratios are to the same run's steady window. Failed = failed requests (stream + wrk) / cut downloads, summed over the runs. " +
		"Helper overhead = its start until the new build serves, minus its `nginx -T` and the new master's start (USR2 until serving); " +
		"helper CPU is its own (from its exited process's /proc/PID/stat before it is reaped; 10 ms ticks), then with its children " +
		"(wait4's rusage: nginx -T, -v).\n\n")
	if len(a.Config) > 0 {
		b.WriteString("### Configuration size\n\nGenerated by internal/lab/bigconf: server blocks with two regex locations each, " +
			"20 maps of 200 regex entries; the largest also with 1,000 TLS server blocks with certificates of their own.\n\n")
		cells := [][]string{{"server blocks", "certs", "runs ok", "failed", "nginx -t ms", "new master start ms", "helper preflight ms", "helper -T ms",
			"helper overhead ms", "overhead % of start", "helper RSS MiB", "helper CPU ms own / with children", "p99 swap ×steady"}}
		for _, r := range a.Config {
			cells = append(cells, []string{fmt.Sprint(r.Point.Servers), fmt.Sprint(r.Point.Certs), fmt.Sprintf("%d/%d", r.Took, r.Runs), failedText(r.Row),
				num(r.NginxTestMS, 0), num(r.USR2ToServingMS, 0), num(r.PreflightMS, 0), num(r.HelperTestMS, 0),
				num(r.OverheadMS, 0), num(100*Ratio(r.OverheadMS, r.USR2ToServingMS), 2), num(r.HelperRSSKiB/1024, 1),
				num(r.OwnCPUMS, 0) + " / " + num(r.HelperCPUMS, 0), num(r.P99Ratio, 2)})
		}
		b.WriteString(mdTable(cells))
		b.WriteString("\n![helper overhead against configuration size](axis-config.svg)\n\n")
	}
	if len(a.TLS) > 0 {
		b.WriteString("### TLS session resumption across the swap\n\n" +
			"nginx also serves HTTPS (`ssl_session_cache shared:SSL:10m`, one ECDSA certificate), and 50 returning visitors " +
			"(internal/lab/load: Go clients, each with a session cache of its own, as a browser keeps one) make 100 handshakes/s " +
			"beside the usual load, each a new connection: every visitor comes back every half second. Go's client resumes by " +
			"tickets only (TLS 1.3 tickets; TLS 1.2 session tickets). On tls12-sessionid nginx issues no tickets (`ssl_session_tickets off`), " +
			"so visitors resume by TLS 1.2 session ID from `ssl_session_cache`: 10 visitors, each request an `openssl s_client` process " +
			"keeping the visitor's session in a file (-sess_in/-sess_out), 10 handshakes/s, every visitor back every second; " +
			"TLS p99 there includes the process's start. " +
			"Before = the steady window; during = the swap's start until a second after the new build served or the last signal (WINCH, QUIT), whichever is later; after = the next 5 s. " +
			"nginx CPU: both generations, % of one core. `restart` is the restart row's method (QUIT, then start the new build).\n\n")
		cells := [][]string{{"point", "method", "runs ok", "failed (HTTP / cut)", "TLS failed", "resumed % before / during / after",
			"full handshakes/s steady / peak", "nginx CPU % steady / during", "TLS p99 ×steady", "HTTP p99 ×steady"}}
		for _, r := range a.TLS {
			t := r.TLS
			if t == nil {
				t = &TLSRun{}
			}
			cells = append(cells, []string{r.Point.Name, strings.TrimSuffix(r.Method, "+"+r.Point.Name), fmt.Sprintf("%d/%d", r.Took, r.Runs), failedText(r.Row),
				fmt.Sprintf("%d of %d", t.Failed, t.Sent),
				num(t.ResumedBeforePct, 1) + " / " + num(t.ResumedDuringPct, 1) + " / " + num(t.ResumedAfterPct, 1),
				num(t.FullPerSSteady, 0) + " / " + num(t.FullPerSPeak, 0), num(t.NginxCPUSteady, 0) + " / " + num(t.NginxCPUSwap, 0),
				num(t.P99Ratio, 2), num(r.P99Ratio, 2)})
		}
		b.WriteString(mdTable(cells))
		for _, r := range a.TLS {
			if t := r.TLS; t != nil && t.NginxLogged > 0 {
				fmt.Fprintf(&b, "\n%s, %s: nginx's access log ($ssl_session_reused) counted %d handshakes answered, %d resumed; "+
					"the visitors %d answered, %d resumed.\n", r.Point.Name, strings.TrimSuffix(r.Method, "+"+r.Point.Name),
					t.NginxLogged, t.NginxResumed, t.Sent-t.Failed, t.Resumed)
			}
		}
		for _, r := range a.TLS {
			if r.Note != "" {
				fmt.Fprintf(&b, "\nThe helper's preflight, on `%s`:\n\n```\npreflight    note    %s\n```\n", r.Point.Name, r.Note)
				break
			}
		}
		b.WriteString("\n![TLS resumption rate over time across the swap](axis-tls.svg)\n\n")
	}
	if len(a.Growth) > 0 {
		b.WriteString("### Growth: workers, idle connections, unrelated processes\n\n" +
			"Idle keep-alive connections are opened before the load (from 127.0.0.2 and up: 25,000 a source address) and held " +
			"across the swap by idle holders, processes of the bench's own of at most 15,000 connections each (each connection is a descriptor, " +
			"and RLIMIT_NOFILE cannot be raised past its hard limit here); nginx's worker_connections and worker_rlimit_nofile are raised to the bench's open-file limit, " +
			"and where one worker cannot hold them all beside the load, more workers share them through `listen ... reuseport`. " +
			"Unrelated processes are sleepers, processes of their own made by clone(CLONE_VM) (a fork costs this VM milliseconds) that only sleep, in a process group of their own, started before the run and reaped after it.\n\n")
		cells := [][]string{{"point", "workers", "runs ok", "failed", "helper wall ms", "new serving ms", "helper CPU ms own / with children", "helper RSS MiB", "p99 swap ×steady"}}
		for _, r := range a.Growth {
			cells = append(cells, []string{r.Point.Name, fmt.Sprint(r.Workers), fmt.Sprintf("%d/%d", r.Took, r.Runs), failedText(r.Row),
				num(r.WallMS, 0), num(r.NewServingMS, 0), num(r.OwnCPUMS, 0) + " / " + num(r.HelperCPUMS, 0),
				num(r.HelperRSSKiB/1024, 1), num(r.P99Ratio, 2)})
		}
		b.WriteString(mdTable(cells))
		b.WriteString("\n")
		for _, r := range a.Runs {
			if i := r.Idle; i != nil && r.Point != nil {
				fmt.Fprintf(&b, "- %s: opened %d of %d by %d holders in %.0f ms; descriptors of each old worker once open %v; a second after the swap %d still open, "+
					"%d closed by the server with a FIN", r.Point.Name, i.Opened, i.Wanted, i.Holders, i.OpenMS, i.WorkerFDs, i.StillOpen, i.ClosedEOF)
				if len(i.ClosedOther) > 0 {
					fmt.Fprintf(&b, ", others %v", i.ClosedOther)
				}
				if len(i.OpenErrors) > 0 {
					fmt.Fprintf(&b, "; failed to open: %v", i.OpenErrors)
				}
				fmt.Fprintf(&b, "; server closes at %.0f / %.0f / %.0f ms (first / median / last, on the load's timeline; the swap started at %.0f ms).\n",
					i.FirstCloseMS, i.MedianCloseMS, i.LastCloseMS, r.SwapStartMS)
			}
		}
		b.WriteString("\n")
	}
	for _, e := range a.Errors {
		fmt.Fprintf(&b, "- not run: %s\n", e)
	}
	return b.String()
}

// rows are every axis row.
func (a *Axes) rows() []AxisRow {
	return slices.Concat(a.Config, a.TLS, a.Growth)
}

// AxisGoals checks the axes against the goals of issue 16.
func AxisGoals(a *Axes) []Goal {
	if a == nil {
		return nil
	}
	var gs []Goal
	for _, r := range a.rows() {
		if !r.Ours {
			continue
		}
		failed := r.StreamFailed.Total + r.WrkFailed.Total
		gs = append(gs, Goal{"0 failed requests, 0 cut downloads", r.Method,
			fmt.Sprintf("%d failed requests (stream %d, wrk %d), %d cut downloads over %d runs", failed, r.StreamFailed.Total, r.WrkFailed.Total, r.DownloadsCut.Total, r.Runs),
			failed == 0 && r.DownloadsCut.Total == 0})
	}
	for _, r := range a.Config {
		gs = append(gs, Goal{"p99 in the swap window ≤ 1.2× steady (plain HTTP)", r.Method,
			fmt.Sprintf("%.2f× (%.1f ms vs %.1f ms)", r.P99Ratio, r.SwapP99MS, r.SteadyP99MS), r.P99Ratio > 0 && r.P99Ratio <= 1.2})
		switch r.Point.Servers {
		case 100:
			gs = append(gs, Goal{"helper overhead ≤ 10 ms at 100 server blocks", r.Method,
				fmt.Sprintf("%.0f ms", r.OverheadMS), r.OverheadMS >= 0 && r.OverheadMS <= 10})
		case 20000:
			gs = append(gs, Goal{"helper overhead ≤ 2 % of nginx's own start at 20,000 server blocks", r.Method,
				fmt.Sprintf("%.0f ms of a %.0f ms start: %.2f %%", r.OverheadMS, r.USR2ToServingMS, 100*Ratio(r.OverheadMS, r.USR2ToServingMS)),
				r.OverheadMS >= 0 && r.OverheadMS <= 0.02*r.USR2ToServingMS},
				Goal{"helper peak RSS ≤ 20 MiB at 20,000 server blocks", r.Method,
					fmt.Sprintf("%.1f MiB (worst run)", r.HelperRSSKiBMax/1024), r.HelperRSSKiBMax > 0 && r.HelperRSSKiBMax <= 20*1024})
		}
	}
	for _, r := range a.TLS {
		if !r.Ours || !r.Point.KeyFile || r.TLS == nil {
			continue
		}
		gs = append(gs, Goal{"TLS p99 in the swap window ≤ 1.2× steady, ticket keys from files", r.Method,
			fmt.Sprintf("%.2f× (%.1f ms vs %.1f ms)", r.TLS.P99Ratio, r.TLS.SwapP99MS, r.TLS.SteadyP99MS), r.TLS.P99Ratio > 0 && r.TLS.P99Ratio <= 1.2},
			Goal{"TLS resumption during the swap ≥ 95 % of steady, ticket keys from files", r.Method,
				fmt.Sprintf("%.1f %% vs %.1f %%", r.TLS.ResumedDuringPct, r.TLS.ResumedBeforePct), r.TLS.ResumedDuringPct >= 0.95*r.TLS.ResumedBeforePct})
	}
	gs = append(gs, growthGoals(a.Growth)...)
	return gs
}

// growthGoals: the helper's own CPU grows no faster than linearly with workers and idle
// connections, and not with unrelated processes (within two 10 ms ticks and 20 %).
func growthGoals(rows []AxisRow) []Goal {
	by := map[string]AxisRow{}
	for _, r := range rows {
		by[r.Point.Name] = r
	}
	var gs []Goal
	linear := func(goal, lo, hi string, factor float64) {
		a, okA := by[lo]
		b, okB := by[hi]
		if !okA || !okB {
			return
		}
		gs = append(gs, Goal{goal, lo + " → " + hi,
			fmt.Sprintf("own CPU %.0f → %.0f ms (%.1f×, for %.0f× as many)", a.OwnCPUMS, b.OwnCPUMS, Ratio(b.OwnCPUMS, a.OwnCPUMS), factor),
			b.OwnCPUMS >= 0 && b.OwnCPUMS <= factor*max(a.OwnCPUMS, 10)})
	}
	linear("helper CPU no faster than linear in workers", "workers=1", "workers=64", 64)
	linear("helper CPU no faster than linear in connections", "idle=10000", "idle=50000", 5)
	if a, ok := by["sleepers=3000"]; ok {
		if b, ok := by["sleepers=30000"]; ok {
			gs = append(gs, Goal{"helper CPU flat in unrelated processes", "sleepers=3000 → sleepers=30000",
				fmt.Sprintf("own CPU %.0f → %.0f ms", a.OwnCPUMS, b.OwnCPUMS), b.OwnCPUMS >= 0 && b.OwnCPUMS <= 1.2*a.OwnCPUMS+20})
		}
	}
	return gs
}
