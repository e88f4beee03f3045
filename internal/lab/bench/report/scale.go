package report

import (
	"fmt"
	"strings"
)

// Scale holds the flag-gated rows.
type Scale struct {
	WorkerRows   []Row        `json:"worker_rows,omitempty"`
	IdleRow      *Row         `json:"idle_row,omitempty"`
	Idle         *IdleResult  `json:"idle,omitempty"`
	IdleMarks    []Mark       `json:"idle_marks,omitempty"`
	Churn        *ChurnResult `json:"churn,omitempty"`
	WorkersBench string       `json:"workers_bench,omitempty"` // `go test -bench` output
	Runs         []Run        `json:"runs,omitempty"`          // every run of the worker and idle rows
}

// IdleResult is what happened to idle keep-alive connections held open across a swap.
type IdleResult struct {
	Wanted      int            `json:"wanted"`
	NginxNofile uint64         `json:"nginx_nofile"` // worker_rlimit_nofile; worker_connections is 64 less
	Opened      int            `json:"opened"`       // answered one request with keep-alive
	Holders     int            `json:"holders"`      // processes that held them
	OpenMS      float64        `json:"open_ms"`      // until all were open, from the holders' start
	OpenErrors  map[string]int `json:"open_errors,omitempty"`
	StillOpen   int            `json:"still_open"` // a second after the swap ended
	// Open descriptors of each old worker once the idle connections were open: where they landed.
	WorkerFDs   []int          `json:"worker_fds,omitempty"`
	ClosedEOF   int            `json:"closed_eof"` // closed by the server (FIN)
	ClosedOther map[string]int `json:"closed_other,omitempty"`
	// When the server closed them, on the load's timeline.
	FirstCloseMS  float64 `json:"first_close_ms"`
	MedianCloseMS float64 `json:"median_close_ms"`
	LastCloseMS   float64 `json:"last_close_ms"`
}

// ChurnResult is what many swaps in a row, back and forth between the two builds under load,
// left behind.
type ChurnResult struct {
	Swaps     int      `json:"swaps"`
	Succeeded int      `json:"succeeded"`
	Workers   int      `json:"workers"`
	Errors    []string `json:"errors,omitempty"` // the first few failed swaps

	StreamSent   int            `json:"stream_sent"`
	StreamFailed int            `json:"stream_failed"`
	StreamErrors map[string]int `json:"stream_errors,omitempty"`
	WrkRequests  int            `json:"wrk_requests"`
	WrkFailed    int            `json:"wrk_failed"`
	Downloads    int            `json:"downloads"`
	DownloadsCut int            `json:"downloads_cut"`

	// Processes running the prefix's binary beyond one master and its workers, after a swap.
	LeakedProcsMax int `json:"leaked_processes_max"`
	LeakedProcsEnd int `json:"leaked_processes_end"`
	// Open descriptors of the master (each new master inherits them from the old one).
	MasterFDsFirst int      `json:"master_fds_first"`
	MasterFDsLast  int      `json:"master_fds_last"`
	MasterFDsMax   int      `json:"master_fds_max"`
	StrayFiles     []string `json:"stray_files"` // in the prefix at the end, not there at the start

	SwapMS     []float64 `json:"swap_ms"` // the helper's own duration of each swap
	FirstTenMS float64   `json:"first_ten_median_ms"`
	LastTenMS  float64   `json:"last_ten_median_ms"`
	DurationS  float64   `json:"duration_s"`
	// How busy the machine was, with the bench idle, before and after.
	BusyBeforePct float64 `json:"busy_before_pct"`
	BusyAfterPct  float64 `json:"busy_after_pct"`
}

// markdown writes the scale rows' section of results.md.
func (s *Scale) markdown() string {
	var b strings.Builder
	b.WriteString("## Scale\n\n")
	if len(s.WorkerRows) > 0 {
		b.WriteString("### worker_processes 1, 4, 16 (our helper, same load)\n\n")
		b.WriteString(Table(s.WorkerRows))
		b.WriteString("\n")
	}
	if s.Idle != nil && s.IdleRow != nil {
		i := s.Idle
		fmt.Fprintf(&b, "### %d idle keep-alive connections across the swap\n\n", i.Wanted)
		b.WriteString(Table([]Row{*s.IdleRow}))
		limits := "nginx's worker_rlimit_nofile and worker_connections raised to the bench's open-file limit"
		if i.NginxNofile > 64 {
			limits = fmt.Sprintf("nginx has `worker_rlimit_nofile %d` and `worker_connections %d`, the bench's open-file limit", i.NginxNofile, i.NginxNofile-64)
		}
		fmt.Fprintf(&b, "\nOpened %d before the load started (each answered one HTTP/1.1 request, then left idle; for this run %s). "+
			"A second after the swap ended: %d still open, %d closed by the server with a FIN (EOF)",
			i.Opened, limits, i.StillOpen, i.ClosedEOF)
		if len(i.ClosedOther) > 0 {
			fmt.Fprintf(&b, ", others %v", i.ClosedOther)
		}
		if len(i.OpenErrors) > 0 {
			fmt.Fprintf(&b, "; failed to open: %v", i.OpenErrors)
		}
		fmt.Fprintf(&b, ".\nServer closes on the load's timeline: first %.0f ms, median %.0f ms, last %.0f ms; signals: %s.\n\n",
			i.FirstCloseMS, i.MedianCloseMS, i.LastCloseMS, marksText(s.IdleMarks))
		if s.IdleRow.Timeline != "" {
			fmt.Fprintf(&b, "![idle](%s)\n\n", s.IdleRow.Timeline)
		}
	}
	if c := s.Churn; c != nil {
		fmt.Fprintf(&b, "### %d swaps in a row, back and forth, under load (helper, --soak 0s, %d workers)\n\n", c.Swaps, c.Workers)
		cells := [][]string{{"measure", "value"},
			{"swaps succeeded", fmt.Sprintf("%d of %d in %.0f s", c.Succeeded, c.Swaps, c.DurationS)},
			{"stream requests failed", fmt.Sprintf("%d of %d %v", c.StreamFailed, c.StreamSent, mapOrEmpty(c.StreamErrors))},
			{"wrk requests failed", fmt.Sprintf("%d of %d", c.WrkFailed, c.WrkRequests)},
			{"slow downloads cut", fmt.Sprintf("%d of %d", c.DownloadsCut, c.Downloads)},
			{"leaked nginx processes (max after a swap / at the end)", fmt.Sprintf("%d / %d", c.LeakedProcsMax, c.LeakedProcsEnd)},
			{"master's open fds (first / last / max)", fmt.Sprintf("%d / %d / %d", c.MasterFDsFirst, c.MasterFDsLast, c.MasterFDsMax)},
			{"stray files in the prefix", fmt.Sprintf("%d %v", len(c.StrayFiles), c.StrayFiles)},
			{"swap time, median of the first ten / last ten", fmt.Sprintf("%.0f ms / %.0f ms", c.FirstTenMS, c.LastTenMS)},
			{"machine busy, bench idle, before / after", fmt.Sprintf("%.0f%% / %.0f%%", c.BusyBeforePct, c.BusyAfterPct)},
		}
		b.WriteString(mdTable(cells))
		for _, e := range c.Errors {
			fmt.Fprintf(&b, "\n- %s", e)
		}
		b.WriteString("\n")
	}
	if s.WorkersBench != "" {
		b.WriteString("### Finding a master's workers with many unrelated processes\n\n")
		b.WriteString("`go test -tags e2e -run '^$' -bench BenchmarkWorkersWithManyProcesses ./internal/lab/bench/`\n\n```\n")
		b.WriteString(strings.TrimSpace(s.WorkersBench))
		b.WriteString("\n```\n")
	}
	return b.String()
}

func marksText(ms []Mark) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s at %.0f ms", m.Label, float64(m.At.Microseconds())/1000))
	}
	return strings.Join(parts, ", ")
}

func mapOrEmpty(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return fmt.Sprint(m)
}
