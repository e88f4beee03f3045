package report

import (
	"math"
	"slices"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
)

// Latency summarizes the open-loop stream over one window: percentiles are over the requests
// that were answered; failures are counted apart.
type Latency struct {
	Sent   int     `json:"sent"`
	Failed int     `json:"failed"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// LatencyIn summarizes the stream's requests sent in [from, to).
func LatencyIn(r load.StreamResult, from, to time.Duration) Latency {
	w := r.Window(from, to)
	return Latency{Sent: w.Sent, Failed: w.Failed, P50MS: Millis(w.Percentile(50)), P99MS: Millis(w.Percentile(99)), MaxMS: Millis(w.Percentile(100))}
}

// LatencyInSpans summarizes the stream's requests sent in any of spans (overlaps count once).
func LatencyInSpans(r load.StreamResult, spans []Span) Latency {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(a, b Span) int { return int(a.From - b.From) })
	var merged []Span
	for _, s := range spans {
		if n := len(merged); n > 0 && s.From <= merged[n-1].To {
			merged[n-1].To = max(merged[n-1].To, s.To)
			continue
		}
		merged = append(merged, s)
	}
	var all load.StreamResult
	for _, s := range merged {
		w := r.Window(s.From, s.To)
		all.Records = append(all.Records, w.Records...)
		all.Sent += w.Sent
		all.Failed += w.Failed
	}
	return Latency{Sent: all.Sent, Failed: all.Failed, P50MS: Millis(all.Percentile(50)), P99MS: Millis(all.Percentile(99)), MaxMS: Millis(all.Percentile(100))}
}

// Ratio is a/b, or 0 when b is not positive (no answered request in the steady window).
func Ratio(a, b float64) float64 {
	if b <= 0 || a < 0 {
		return 0
	}
	return a / b
}

// Median of xs, ignoring negative values (not observed); -1 if none is left. An even count
// gives the mean of the two middle values.
func Median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if x >= 0 && !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return -1
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Max of xs, or -1 for none.
func Max(xs []float64) float64 {
	m := -1.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// Millis writes a duration in milliseconds, as the results keep times; negative durations (not
// observed) stay -1.
func Millis(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return float64(d) / float64(time.Millisecond)
}

// of maps runs to one value each, for Median and Max.
func of[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// Dur turns milliseconds back into a duration, to place a result on the load's timeline.
func Dur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
