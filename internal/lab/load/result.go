package load

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// StreamResult is what a Stream saw.
type StreamResult struct {
	Sent, OK, Failed int
	Resumed          int            // OK requests whose TLS handshake resumed a session
	Errors           map[string]int // failure kind -> count: "connect refused", "timeout", "status 502", "reset", "eof", ...
	Records          []Record       // one per request, in send order, hence sorted by Start
}

// Record is the outcome of one request.
type Record struct {
	Start   time.Duration // when it was sent, as an offset from stream start
	Latency time.Duration // until the body was read to the end, or the failure
	Status  int           // 0 when no response
	Err     string        // "" when OK (2xx/3xx, body read whole); else the failure kind
	Resumed bool          // over TLS: the handshake resumed the visitor's session
}

// summarize counts recs.
func summarize(recs []Record) StreamResult {
	r := StreamResult{Sent: len(recs), Errors: map[string]int{}, Records: recs}
	for _, rec := range recs {
		if rec.Err == "" {
			r.OK++
			if rec.Resumed {
				r.Resumed++
			}
			continue
		}
		r.Failed++
		r.Errors[rec.Err]++
	}
	return r
}

// Percentile returns the p-th percentile (0 < p <= 100, nearest rank) of the latency of OK
// requests, or 0 if there were none.
func (r StreamResult) Percentile(p float64) time.Duration {
	var lat []time.Duration
	for _, rec := range r.Records {
		if rec.Err == "" {
			lat = append(lat, rec.Latency)
		}
	}
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	rank := int(math.Ceil(p / 100 * float64(len(lat))))
	return lat[min(max(rank, 1), len(lat))-1]
}

// Window returns the result over the records whose Start is in [from, to).
func (r StreamResult) Window(from, to time.Duration) StreamResult {
	at := func(d time.Duration) int {
		return sort.Search(len(r.Records), func(i int) bool { return r.Records[i].Start >= d })
	}
	lo, hi := at(from), at(to)
	if hi < lo {
		hi = lo
	}
	return summarize(r.Records[lo:hi:hi])
}

// Bucket is one slice of a Timeline.
type Bucket struct {
	Start      time.Duration
	OK, Failed int
	Resumed    int           // OK requests over a resumed TLS session
	P99        time.Duration // over OK requests
}

// Timeline cuts the result into buckets of the given width, from 0 to the last request,
// so that a failure or a latency spike can be placed in time (say, at the binary swap).
func (r StreamResult) Timeline(bucket time.Duration) []Bucket {
	if bucket <= 0 || len(r.Records) == 0 {
		return nil
	}
	var tl []Bucket
	for from := time.Duration(0); from <= r.Records[len(r.Records)-1].Start; from += bucket {
		w := r.Window(from, from+bucket)
		tl = append(tl, Bucket{Start: from, OK: w.OK, Failed: w.Failed, Resumed: w.Resumed, P99: w.Percentile(99)})
	}
	return tl
}

// String summarizes r on one line, e.g.
// "sent 5000 ok 4998 failed 2 p50 1.2ms p99 4ms max 9ms errors: timeout 2".
func (r StreamResult) String() string {
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	s := fmt.Sprintf("sent %d ok %d failed %d p50 %s p99 %s max %s", r.Sent, r.OK, r.Failed,
		round(r.Percentile(50)), round(r.Percentile(99)), round(r.Percentile(100)))
	if len(r.Errors) == 0 {
		return s
	}
	return s + " errors: " + ErrorCounts(r.Errors)
}

// ErrorCounts lists failure kinds and their counts, sorted by kind: "reset 2, timeout 1".
func ErrorCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
