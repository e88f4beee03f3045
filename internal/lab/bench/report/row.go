package report

import (
	"fmt"
	"slices"
	"strings"
)

// Row is one method's line of the table: medians over its runs (counts of failures also give
// their worst run, since a median hides a run that failed).
type Row struct {
	Method   string `json:"method"`
	Describe string `json:"describe"`
	Workers  int    `json:"workers"`
	Ours     bool   `json:"ours"` // the project's helper: the goals apply
	Runs     int    `json:"runs"`
	Took     int    `json:"took"` // runs that ended with the new build serving alone

	StreamRequests float64 `json:"stream_requests"`
	WrkRequests    float64 `json:"wrk_requests"`
	StreamFailed   Count   `json:"stream_failed"`
	SwapFailed     Count   `json:"stream_failed_in_swap_window"`
	WrkFailed      Count   `json:"wrk_failed"`
	DownloadsCut   Count   `json:"downloads_cut"`

	P50Ratio    float64 `json:"p50_ratio"`
	P99Ratio    float64 `json:"p99_ratio"`
	MaxRatio    float64 `json:"max_ratio"`
	AfterSigP99 float64 `json:"after_signals_p99_ratio"`
	SteadyP99MS float64 `json:"steady_p99_ms"`
	SwapP99MS   float64 `json:"swap_p99_ms"`

	NewServingMS    float64 `json:"new_serving_ms"`
	USR2ToServingMS float64 `json:"usr2_to_serving_ms"`
	FloorMS         float64 `json:"floor_ms"`
	FloorIdleMS     float64 `json:"floor_idle_ms"`
	FloorRatio      float64 `json:"floor_ratio"`
	OldGoneMS       float64 `json:"old_gone_ms"`
	HelperRSSKiB    float64 `json:"helper_max_rss_kib"`
	HelperRSSKiBMax float64 `json:"helper_max_rss_kib_worst"`
	HelperCPUMS     float64 `json:"helper_cpu_ms"`
	BusyMaxPct      float64 `json:"busy_max_pct"` // the busiest the machine was around a run, with the bench idle

	Timeline string `json:"timeline,omitempty"` // the SVG of the run with the median p99 ratio
}

// Count is a failure count over runs.
type Count struct {
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	Total  int     `json:"total"`
}

func countOf(runs []Run, f func(Run) int) Count {
	v := of(runs, func(r Run) float64 { return float64(f(r)) })
	c := Count{Median: Median(v), Max: Max(v)}
	for _, r := range runs {
		c.Total += f(r)
	}
	return c
}

// Aggregate makes a row from the runs of the method named method; ours says whether the method
// is this project's helper, the goals then apply to its row.
func Aggregate(method, describe string, ours bool, runs []Run) Row {
	row := Row{Method: method, Describe: describe, Ours: ours, Runs: len(runs)}
	if len(runs) == 0 {
		return row
	}
	row.Workers = runs[0].Workers
	for _, r := range runs {
		if r.Took {
			row.Took++
		}
	}
	med := func(f func(Run) float64) float64 { return Median(of(runs, f)) }
	row.StreamRequests = med(func(r Run) float64 { return float64(r.StreamSent) })
	row.WrkRequests = med(func(r Run) float64 { return float64(r.WrkRequests) })
	row.StreamFailed = countOf(runs, func(r Run) int { return r.StreamFailed })
	row.SwapFailed = countOf(runs, func(r Run) int { return r.Swap.Failed })
	row.WrkFailed = countOf(runs, func(r Run) int { return r.WrkFailed })
	row.DownloadsCut = countOf(runs, func(r Run) int { return r.DownloadsCut })
	row.P50Ratio = med(func(r Run) float64 { return r.P50Ratio })
	row.P99Ratio = med(func(r Run) float64 { return r.P99Ratio })
	row.MaxRatio = med(func(r Run) float64 { return r.MaxRatio })
	row.AfterSigP99 = med(func(r Run) float64 { return r.AfterSignalsP99Ratio })
	row.SteadyP99MS = med(func(r Run) float64 { return r.Steady.P99MS })
	row.SwapP99MS = med(func(r Run) float64 { return r.Swap.P99MS })
	row.NewServingMS = med(func(r Run) float64 { return r.NewServingMS })
	row.USR2ToServingMS = med(func(r Run) float64 { return r.USR2ToServingMS })
	row.FloorMS = med(func(r Run) float64 { return r.FloorMS })
	row.FloorIdleMS = med(func(r Run) float64 { return r.FloorIdleMS })
	row.FloorRatio = med(func(r Run) float64 { return r.FloorRatio })
	row.OldGoneMS = med(func(r Run) float64 { return r.OldGoneMS })
	rss := func(r Run) float64 { return nonZero(float64(r.HelperRSSKiB)) }
	row.HelperRSSKiB, row.HelperRSSKiBMax = med(rss), Max(of(runs, rss))
	row.HelperCPUMS = med(func(r Run) float64 { return nonZero(r.HelperCPUMS) })
	row.BusyMaxPct = Max(of(runs, func(r Run) float64 { return max(r.BusyBeforePct, r.BusyAfterPct) }))
	return row
}

// nonZero turns "not measured" (0) into -1, which medians skip.
func nonZero(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// Representative picks the run whose p99 ratio is the median one: the run to draw.
func Representative(runs []Run) int {
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch x, y := runs[a].P99Ratio, runs[b].P99Ratio; {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	if len(idx) == 0 {
		return -1
	}
	return idx[(len(idx)-1)/2]
}

// Table writes rows as an aligned markdown table: readable in a terminal and on GitHub.
func Table(rows []Row) string {
	head := []string{"method", "workers", "runs ok", "stream req", "wrk req", "stream failed", "stream failed in swap window", "wrk failed", "downloads cut",
		"p50 ×steady", "p99 ×steady", "max ×steady", "p99 ×steady 1 s after signals", "new serving ms", "floor ms", "×floor", "USR2→serving ms", "old gone ms", "helper RSS MiB", "helper CPU ms", "machine busy % (max)"}
	cells := [][]string{head}
	for _, r := range rows {
		cells = append(cells, []string{
			r.Method, fmt.Sprint(r.Workers), fmt.Sprintf("%d/%d", r.Took, r.Runs),
			num(r.StreamRequests, 0), num(r.WrkRequests, 0),
			r.StreamFailed.String(), r.SwapFailed.String(), r.WrkFailed.String(), r.DownloadsCut.String(),
			num(r.P50Ratio, 2), num(r.P99Ratio, 2), num(r.MaxRatio, 2), num(r.AfterSigP99, 2),
			num(r.NewServingMS, 1), num(r.FloorMS, 1), num(r.FloorRatio, 2), num(r.USR2ToServingMS, 1),
			num(r.OldGoneMS, 0), num(r.HelperRSSKiB/1024, 1), num(r.HelperCPUMS, 0), num(r.BusyMaxPct, 0),
		})
	}
	return mdTable(cells)
}

// String writes a failure count: the median, and the worst run when any run failed.
func (c Count) String() string {
	if c.Max <= 0 {
		return num(c.Median, 0)
	}
	return fmt.Sprintf("%s (max %s)", num(c.Median, 0), num(c.Max, 0))
}

// num formats v with prec decimals; negative values mean not measured.
func num(v float64, prec int) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// mdTable aligns cells (the first row is the header) into a markdown table.
func mdTable(cells [][]string) string {
	if len(cells) == 0 {
		return ""
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(cells[0])
	b.WriteString("|")
	for _, w := range width {
		b.WriteString(strings.Repeat("-", w+2) + "|")
	}
	b.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
	return b.String()
}
