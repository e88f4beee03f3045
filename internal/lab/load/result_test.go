package load

import (
	"testing"
	"time"
)

// synthetic returns 100 requests, one every 10ms; request i took i+1 ms, and every tenth
// timed out after 2s.
func synthetic() StreamResult {
	var recs []Record
	for i := range 100 {
		rec := Record{Start: time.Duration(i) * 10 * time.Millisecond, Latency: time.Duration(i+1) * time.Millisecond, Status: 200}
		if i%10 == 9 {
			rec = Record{Start: rec.Start, Latency: 2 * time.Second, Err: "timeout"}
		}
		recs = append(recs, rec)
	}
	return summarize(recs)
}

func TestSummarizeCounts(t *testing.T) {
	r := synthetic()
	if r.Sent != 100 || r.OK != 90 || r.Failed != 10 || r.Errors["timeout"] != 10 {
		t.Errorf("got %s, want sent 100 ok 90 failed 10 timeout 10", r)
	}
}

func TestPercentileIsOverOKRequests(t *testing.T) {
	r := synthetic()
	// OK latencies are 1..100ms without 10, 20, ..., 100: 90 values.
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 49 * time.Millisecond},  // rank 45: 1..9, 11..19, 21..29, 31..39, 41..49
		{99, 99 * time.Millisecond},  // rank 90: the largest
		{100, 99 * time.Millisecond}, // the timeouts' 2s do not count
		{0, 1 * time.Millisecond},
	} {
		if got := r.Percentile(c.p); got != c.want {
			t.Errorf("p%v = %s, want %s", c.p, got, c.want)
		}
	}
	if got := (StreamResult{}).Percentile(99); got != 0 {
		t.Errorf("p99 of nothing = %s, want 0", got)
	}
}

func TestWindowIsHalfOpen(t *testing.T) {
	r := synthetic()
	w := r.Window(100*time.Millisecond, 200*time.Millisecond) // requests 10..19
	if w.Sent != 10 || w.OK != 9 || w.Failed != 1 || w.Records[0].Start != 100*time.Millisecond {
		t.Errorf("window [100ms,200ms) = %s, want requests 10..19: 9 ok, 1 timeout", w)
	}
	if w := r.Window(-time.Second, time.Hour); w.Sent != 100 {
		t.Errorf("window over everything has %d requests, want 100", w.Sent)
	}
	if w := r.Window(200*time.Millisecond, 100*time.Millisecond); w.Sent != 0 {
		t.Errorf("backwards window has %d requests, want 0", w.Sent)
	}
}

func TestTimelinePlacesFailuresInTime(t *testing.T) {
	tl := synthetic().Timeline(250 * time.Millisecond)
	want := []Bucket{
		{Start: 0, OK: 23, Failed: 2, P99: 25 * time.Millisecond},
		{Start: 250 * time.Millisecond, OK: 22, Failed: 3, P99: 49 * time.Millisecond},
		{Start: 500 * time.Millisecond, OK: 23, Failed: 2, P99: 75 * time.Millisecond},
		{Start: 750 * time.Millisecond, OK: 22, Failed: 3, P99: 99 * time.Millisecond},
	}
	if len(tl) != len(want) {
		t.Fatalf("timeline = %+v, want %+v", tl, want)
	}
	for i := range want {
		if tl[i] != want[i] {
			t.Errorf("bucket %d = %+v, want %+v", i, tl[i], want[i])
		}
	}
}

func TestStringIsOneLine(t *testing.T) {
	want := "sent 100 ok 90 failed 10 p50 49ms p99 99ms max 99ms errors: timeout 10"
	if got := synthetic().String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	r := summarize([]Record{{Latency: 1234 * time.Microsecond}, {Err: "status 502"}, {Err: "connect refused"}})
	want = "sent 3 ok 1 failed 2 p50 1.2ms p99 1.2ms max 1.2ms errors: connect refused 1, status 502 1"
	if got := r.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
