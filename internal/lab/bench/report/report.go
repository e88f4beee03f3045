package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
)

// Report is everything one bench invocation measured; it is written as results.json.
type Report struct {
	Command   string    `json:"command"`
	Revision  string    `json:"revision"` // git describe of the tree the bench ran from
	Ctl       string    `json:"ctl"`      // the helper measured: path and sha256
	Started   time.Time `json:"started"`
	DurationS float64   `json:"duration_s"`
	Machine   Machine   `json:"machine"`
	Settings  Settings  `json:"settings"`
	Rows      []Row     `json:"rows"`
	Goals     []Goal    `json:"goals"`
	Runs      []Run     `json:"runs"`
	Scale     *Scale    `json:"scale,omitempty"`
	Axes      *Axes     `json:"axes,omitempty"`
}

// Settings records the load and the windows, in milliseconds.
type Settings struct {
	Reps           int     `json:"reps"`
	StreamRate     int     `json:"stream_rate"`
	StreamTimeout  float64 `json:"stream_timeout_ms"`
	LoadDurationMS float64 `json:"load_duration_ms"`
	WrkConns       int     `json:"wrk_connections"`
	Downloads      int     `json:"downloads"`
	DownloadBytes  int64   `json:"download_bytes"`
	DownloadRate   string  `json:"download_rate"`
	SwapAtMS       float64 `json:"swap_at_ms"`
	SteadyFromMS   float64 `json:"steady_from_ms"`
	FloorAtMS      float64 `json:"floor_at_ms"`
	BucketMS       float64 `json:"bucket_ms"`
	FloorTries     int     `json:"floor_tries"`
	PollMS         float64 `json:"poll_ms"`
	QuietBelowPct  float64 `json:"quiet_below_pct"`
	QuietWaitS     float64 `json:"quiet_wait_s"`
	// BusySampleMS is how long each reading of how busy the machine is lasts (0 in reports from
	// before it was recorded, when it was 1 s).
	BusySampleMS float64 `json:"busy_sample_ms,omitempty"`
	// ShortLoadMS, when set, is the shorter load of the host methods' runs (longer by the
	// helper's soak) and of the axes' (longer by a second per 1,000 server blocks), and
	// ShortDownloadBytes its downloads' size (larger by a MiB a second of either).
	ShortLoadMS        float64 `json:"short_load_ms,omitempty"`
	ShortDownloadBytes int64   `json:"short_download_bytes,omitempty"`
}

// Machine describes where the numbers were taken.
type Machine struct {
	Nproc        int    `json:"nproc"`
	CPU          string `json:"cpu"`
	Kernel       string `json:"kernel"`
	OS           string `json:"os"`
	MemTotal     string `json:"mem_total"`
	Go           string `json:"go"`
	NginxOld     string `json:"nginx_old"` // Debian package version and `nginx -v`
	NginxNew     string `json:"nginx_new"`
	ChildrenFile bool   `json:"proc_children_file"` // /proc/PID/task/PID/children exists (CONFIG_PROC_CHILDREN)
}

// Goal is one of the project's targets, checked against one of our rows.
type Goal struct {
	Goal  string `json:"goal"`
	Row   string `json:"row"`
	Value string `json:"value"`
	Met   bool   `json:"met"`
}

// Goals checks our rows against the targets of issue 7.
func Goals(rows []Row) []Goal {
	var gs []Goal
	for _, r := range rows {
		if !r.Ours {
			continue
		}
		name := fmt.Sprintf("%s, workers=%d", r.Method, r.Workers)
		failed := r.StreamFailed.Total + r.WrkFailed.Total
		gs = append(gs,
			Goal{"0 failed requests, 0 cut downloads", name,
				fmt.Sprintf("%d failed requests (stream %d, of which %d in the swap window; wrk %d), %d cut downloads over %d runs",
					failed, r.StreamFailed.Total, r.SwapFailed.Total, r.WrkFailed.Total, r.DownloadsCut.Total, r.Runs),
				failed == 0 && r.DownloadsCut.Total == 0},
			Goal{"p99 in the swap window ≤ 1.2× steady", name,
				fmt.Sprintf("%.2f× (%.1f ms vs %.1f ms)", r.P99Ratio, r.SwapP99MS, r.SteadyP99MS),
				r.P99Ratio > 0 && r.P99Ratio <= 1.2},
		)
		// A run in a box measures no floor.
		if r.FloorMS > 0 {
			gs = append(gs, Goal{"new build serving within 1.5× the floor", name,
				fmt.Sprintf("%.2f× (%.1f ms from the start vs a %.1f ms cold start under the same load; from USR2 %.1f ms = %.2f×; cold start with no load %.1f ms)",
					r.FloorRatio, r.NewServingMS, r.FloorMS, r.USR2ToServingMS, Ratio(r.USR2ToServingMS, r.FloorMS), r.FloorIdleMS),
				r.FloorRatio > 0 && r.FloorRatio <= 1.5})
		}
		gs = append(gs, Goal{"helper peak RSS ≤ 20 MiB", name,
			fmt.Sprintf("%.1f MiB (worst run)", r.HelperRSSKiBMax/1024),
			r.HelperRSSKiBMax > 0 && r.HelperRSSKiBMax <= 20*1024})
	}
	return gs
}

// ReadReport reads dir/results.json back, to render it again.
func ReadReport(dir string) (*Report, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("decode %s/results.json: %w", dir, err)
	}
	return &rep, nil
}

// WriteMarkdown writes the report to dir/results.md.
func (rep *Report) WriteMarkdown(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(rep.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write results.md: %w", err)
	}
	return nil
}

// WriteJSON writes the report to dir/results.json.
func (rep *Report) WriteJSON(dir string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results.json: %w", err)
	}
	return nil
}

// Markdown writes the report as results.md: the table, the goals, the pictures.
func (rep *Report) Markdown() string {
	var b strings.Builder
	m := rep.Machine
	s := rep.Settings
	fmt.Fprintf(&b, "# Benchmark: swapping a live nginx's binary\n\n")
	fmt.Fprintf(&b, "Reproduce with `%s` (took %.1f minutes here). Taken %s from %s; helper %s.\n\n",
		rep.Command, rep.DurationS/60, rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Revision, rep.Ctl)
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s, kernel %s, %s RAM, %s. nginx: old %s, new %s. /proc/PID/task/PID/children: %v.\n\n",
		m.Nproc, m.CPU, m.OS, m.Kernel, m.MemTotal, m.Go, m.NginxOld, m.NginxNew, m.ChildrenFile)
	fmt.Fprintf(&b, "- **Load**: an open-loop stream of %d req/s (a new connection each, %.0f ms timeout), "+
		"wrk with `Connection: close` (%d connections, 1 thread) and %d slow downloads (nginx `limit_rate %s`) that must arrive whole, "+
		"%s; the swap starts at %.0f s (later if the floor measurement ran late), with the new build already installed "+
		"over the old one as dpkg does it.\n", s.StreamRate, s.StreamTimeout, s.WrkConns, s.Downloads,
		s.DownloadRate, rep.loadLengths(), s.SwapAtMS/1000)
	fmt.Fprintf(&b, "- **Windows**: steady from %.1f s (or the end of the floor measurement) until the swap; swap window from the "+
		"swap's start until the method returned, the new master had all its workers and the old master was gone, whichever is "+
		"last (the old master lives until the downloads on its workers end). Latencies are the stream's, over answered requests; "+
		"\"1 s after signals\" takes only the requests sent in the second after each USR2/WINCH/QUIT (or QUIT/TERM/start, "+
		"or dpkg/stop/start).\n",
		s.SteadyFromMS/1000)
	fmt.Fprintf(&b, "- **Times** are from the swap's start (for the helper, its exec: they include its preflight). "+
		"**Floor**: the new build's own cold start in a prefix of its own, under the same load from %.1f s: exec of nginx until "+
		"the pid file names a master with all its workers, polled every %.0f ms like the swap, median of %d%s; results.json also "+
		"has it with no load.\n", s.FloorAtMS/1000, s.PollMS, s.FloorTries, axesFloor(rep.Axes))
	fmt.Fprintf(&b, "- **RSS, CPU** of the method's process: peak RSS is its VmHWM sampled every 5 ms (wait4's ru_maxrss "+
		"would report the bench's own RSS: Go starts children with CLONE_VM and the kernel folds the pre-exec address space into "+
		"the child's maxrss; results.json keeps it as helper_rusage_max_rss_kib); CPU is user+system from rusage, including the "+
		"children it waited for (the helper's `nginx -v` and `nginx -T`; the scripts' commands).\n")
	if rep.has(inBox) {
		b.WriteString("- **Package rows** (`debian-package-*`), under systemd: each run boots a container of its own " +
			"(internal/nspawn: systemd as PID 1, journald, D-Bus, on the host's network) with Debian's older nginx installed by dpkg " +
			"under its stock nginx.service (`worker_processes auto`), the same load from the host on its site at 127.0.0.1:8080, and " +
			"the swap is `dpkg -i` of the newer nginx-common and nginx: times are from dpkg's start, and no floor is measured. " +
			"Marks: dpkg's start; from the box's journal, systemd starting to stop and to start nginx.service (its own timestamps) " +
			"and the helper's USR2/WINCH/QUIT (journald's reception of each step's record, which may lag the signal by a few ms); " +
			"`master N` when the pid file first names each new master. The helper there is no child of the bench: its RSS is its " +
			"VmHWM and its CPU utime+stime+cutime+cstime from /proc/PID/stat, sampled through the box's /proc every 10 ms " +
			"(CPU as of the last sample, in 10 ms ticks), for its `upgrade` run only.\n")
	}
	if rep.has(libraryUpdate) {
		b.WriteString("- **Library rows** (`libssl3-update-*`), in the same containers: the older of the two newest libssl3 builds " +
			"apt knows installed before nginx starts, the newer installed by `apt-get install` during the load (times from apt-get's " +
			"start). Stock, nothing swaps nginx: it keeps running the deleted library, which its end state names; with needrestart " +
			"(NEEDRESTART_MODE=a) its apt hook restarts nginx.service; with our package its apt hook re-executes nginx live.\n")
	}
	fmt.Fprintf(&b, "- **Machine busy**: CPU use sampled for %.1f s with the bench idle, before and after each run; a run waits "+
		"(up to %.0f s) for the machine to be at most %.0f%% busy. This machine is shared: other work shows here.\n",
		cmp.Or(s.BusySampleMS, 1000)/1000, s.QuietWaitS, s.QuietBelowPct)
	fmt.Fprintf(&b, "- Every row is the median of %d runs; failure counts also give the worst run.\n\n", s.Reps)
	if len(rep.Rows) > 0 {
		b.WriteString(Table(rep.Rows))
		b.WriteString("\n")
		for _, r := range rep.Rows {
			fmt.Fprintf(&b, "- `%s`: %s\n", r.Method, r.Describe)
		}
	}
	b.WriteString("\n## Goals (our helper)\n\n")
	cells := [][]string{{"goal", "row", "measured", "met"}}
	for _, g := range rep.Goals {
		met := "yes"
		if !g.Met {
			met = "**no**"
		}
		cells = append(cells, []string{g.Goal, g.Row, g.Value, met})
	}
	b.WriteString(mdTable(cells))
	b.WriteString("\n")
	runs := rep.Runs
	if rep.Scale != nil {
		runs = append(slices.Clone(runs), rep.Scale.Runs...)
	}
	if rep.Axes != nil {
		runs = append(slices.Clone(runs), rep.Axes.Runs...)
	}
	b.WriteString(failureKinds(runs))
	if len(rep.Rows) > 0 {
		b.WriteString("\n## Timelines\n\nOne run per method, the one with the median p99 ratio.\n\n")
	}
	for _, r := range rep.Rows {
		if r.Timeline != "" {
			fmt.Fprintf(&b, "### %s\n\n![%s](%s)\n\n", r.Method, r.Method, r.Timeline)
		}
	}
	if rep.Scale != nil {
		b.WriteString(rep.Scale.markdown())
	}
	if rep.Axes != nil {
		b.WriteString(rep.Axes.markdown())
	}
	return b.String()
}

// failureKinds lists, per run that failed anything, what failed.
func failureKinds(runs []Run) string {
	var b strings.Builder
	for _, r := range runs {
		if r.StreamFailed+r.WrkFailed+r.DownloadsCut == 0 && r.Error == "" && r.Took {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n## What failed\n\n")
		}
		at := ""
		if r.Point != nil {
			at = " at " + r.Point.Name
		}
		fmt.Fprintf(&b, "- `%s`%s, run %d (%d workers):", r.Method, at, r.Rep, r.Workers)
		if len(r.StreamErrors) > 0 {
			fmt.Fprintf(&b, " stream %s;", load.ErrorCounts(r.StreamErrors))
		}
		if len(r.WrkErrors) > 0 || r.WrkError != "" {
			fmt.Fprintf(&b, " wrk %s;", strings.TrimSpace(load.ErrorCounts(r.WrkErrors)+" "+r.WrkError))
		}
		for _, e := range r.DownloadErrors {
			fmt.Fprintf(&b, " download %s;", e)
		}
		if !r.Took {
			fmt.Fprintf(&b, " end state: %s;", r.EndState)
		}
		if r.Error != "" {
			fmt.Fprintf(&b, " method error: %s;", r.Error)
		}
		b.WriteString("\n")
	}
	if b.Len() > 0 {
		b.WriteString("\n") // a list ends before what follows
	}
	return b.String()
}

// axesFloor says that the axes' runs measure the floor once.
func axesFloor(a *Axes) string {
	if a == nil {
		return ""
	}
	return " (one on the axes)"
}

// inBox is a row of runs in a box (package, library, release rows): they measure no floor.
func inBox(r Row) bool { return r.FloorMS < 0 }

func libraryUpdate(r Row) bool { return strings.Contains(r.Method, "-update-") }

// has says whether the report has a row of the kind.
func (rep *Report) has(kind func(Row) bool) bool { return slices.ContainsFunc(rep.Rows, kind) }

// loadLengths says how long the load lasts in each kind of run the report has: the default in
// the boxes, the shorter load (ShortLoadMS) on the host and on the axes.
func (rep *Report) loadLengths() string {
	s := rep.Settings
	long := fmt.Sprintf("of %d MiB for %.0f s", s.DownloadBytes>>20, s.LoadDurationMS/1000)
	if s.ShortLoadMS == 0 {
		return long
	}
	var parts []string
	if rep.has(inBox) {
		parts = append(parts, long+" in the package methods' runs")
	}
	short := fmt.Sprintf("of %d MiB for %.0f s", s.ShortDownloadBytes>>20, s.ShortLoadMS/1000)
	if rep.has(func(r Row) bool { return !inBox(r) }) {
		parts = append(parts, short+" in the host methods' runs, longer by the helper's soak (the downloads by a MiB a second of it)")
	}
	if rep.Axes != nil {
		parts = append(parts, short+" in the axes' runs, longer by a second per 1,000 server blocks (the downloads by a MiB a second of it)")
	}
	return strings.Join(parts, "; ")
}
