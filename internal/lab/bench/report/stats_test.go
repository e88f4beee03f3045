package report

import (
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, -1},
		{[]float64{-1, -1}, -1},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7, -1, 1}, 4}, // not observed is skipped
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(3, 2); got != 1.5 {
		t.Errorf("Ratio(3, 2) = %v", got)
	}
	if got := Ratio(3, 0); got != 0 {
		t.Errorf("Ratio(3, 0) = %v, want 0 (undefined)", got)
	}
	if got := Ratio(-1, 2); got != 0 {
		t.Errorf("Ratio(-1, 2) = %v, want 0 (not observed)", got)
	}
}

// stream builds a result of one request every 10 ms whose latency is f(start).
func stream(n int, f func(time.Duration) (time.Duration, string)) load.StreamResult {
	r := load.StreamResult{Errors: map[string]int{}}
	for i := range n {
		start := time.Duration(i) * 10 * time.Millisecond
		lat, err := f(start)
		r.Records = append(r.Records, load.Record{Start: start, Latency: lat, Status: 200, Err: err})
	}
	return r
}

func TestWindowsAndRatios(t *testing.T) {
	// 1 ms before 1 s, 3 ms during [1 s, 2 s) with one timeout, 1 ms after.
	res := stream(300, func(s time.Duration) (time.Duration, string) {
		switch {
		case s == 1500*time.Millisecond:
			return 2 * time.Second, "timeout"
		case s >= time.Second && s < 2*time.Second:
			return 3 * time.Millisecond, ""
		}
		return time.Millisecond, ""
	})
	steady := LatencyIn(res, 0, time.Second)
	swap := LatencyIn(res, time.Second, 2*time.Second)
	if steady.Sent != 100 || steady.Failed != 0 || steady.P99MS != 1 {
		t.Errorf("steady = %+v", steady)
	}
	if swap.Sent != 100 || swap.Failed != 1 || swap.P50MS != 3 || swap.MaxMS != 3 {
		t.Errorf("swap = %+v (the timeout must count as failed, not as latency)", swap)
	}
	if got := Ratio(swap.P99MS, steady.P99MS); got != 3 {
		t.Errorf("p99 ratio = %v, want 3", got)
	}
}

func TestAggregate(t *testing.T) {
	runs := []Run{
		{Workers: 2, Took: true, StreamSent: 100, StreamFailed: 0, P99Ratio: 1.1, NewServingMS: 50, FloorMS: 40, HelperRSSKiB: 10000},
		{Workers: 2, Took: true, StreamSent: 110, StreamFailed: 4, P99Ratio: 1.5, NewServingMS: -1, FloorMS: 44, HelperRSSKiB: 12000},
		{Workers: 2, Took: false, StreamSent: 90, StreamFailed: 0, P99Ratio: 0.9, NewServingMS: 70, FloorMS: 42, HelperRSSKiB: 11000},
	}
	row := Aggregate("ctl-soak0s", "", true, runs)
	if !row.Ours || row.Runs != 3 || row.Took != 2 || row.StreamRequests != 100 || row.P99Ratio != 1.1 {
		t.Errorf("row = %+v", row)
	}
	if row.StreamFailed != (Count{Median: 0, Max: 4, Total: 4}) {
		t.Errorf("stream failed = %+v", row.StreamFailed)
	}
	if row.NewServingMS != 60 || row.FloorMS != 42 || row.HelperRSSKiBMax != 12000 {
		t.Errorf("times = %v %v %v", row.NewServingMS, row.FloorMS, row.HelperRSSKiBMax)
	}
	if i := Representative(runs); i != 0 {
		t.Errorf("representative = %d, want the median p99 ratio's run 0", i)
	}
	goals := Goals([]Row{row, Aggregate("restart", "", false, runs)})
	if len(goals) != 4 {
		t.Fatalf("goals for our one row: %d, want 4", len(goals))
	}
	if goals[0].Met || !goals[1].Met || goals[2].Met || !goals[3].Met {
		t.Errorf("goals = %+v", goals)
	}
}

func TestLatencyInSpans(t *testing.T) {
	// 1 ms everywhere but 5 ms in [2 s, 2.5 s).
	res := stream(400, func(s time.Duration) (time.Duration, string) {
		if s >= 2*time.Second && s < 2500*time.Millisecond {
			return 5 * time.Millisecond, ""
		}
		return time.Millisecond, ""
	})
	// Overlapping spans count each request once: [1 s, 2.2 s) ∪ [2 s, 3 s) = [1 s, 3 s).
	l := LatencyInSpans(res, []Span{{From: 2 * time.Second, To: 3 * time.Second}, {From: time.Second, To: 2200 * time.Millisecond}})
	if l.Sent != 200 || l.P50MS != 1 || l.MaxMS != 5 {
		t.Errorf("spans = %+v, want 200 sent, p50 1 ms, max 5 ms", l)
	}
	if l := LatencyInSpans(res, nil); l.Sent != 0 || l.P99MS != 0 {
		t.Errorf("no spans = %+v", l)
	}
}
