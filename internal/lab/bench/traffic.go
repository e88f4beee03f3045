package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// Load is the traffic every row runs under, the same three kinds as the project's tests: wrk
// with `Connection: close` (pressure), an open-loop fixed-rate stream with a timeout per request
// (the one that sees stalls, and the latency measured), and slow downloads that must arrive whole.
type Load struct {
	Rate         int           // stream requests per second
	Timeout      time.Duration // per stream request
	Duration     time.Duration // wrk's and the stream's length
	WrkConns     int
	Downloads    int
	DownloadSize int64 // bytes, served at testbed.SlowRate (1 MiB/s): the size sets how long they last
}

// DefaultLoad makes downloads outlast the old master's QUIT for every method (20 s from the start
// of the load; the swap starts at 5 s and the helper with the default 10 s soak sends QUIT at
// about 16.5 s) and runs wrk and the stream past the end of every swap.
func DefaultLoad() Load {
	return Load{Rate: 300, Timeout: 2 * time.Second, Duration: 24 * time.Second, WrkConns: 8,
		Downloads: 2, DownloadSize: 20 << 20}
}

// slowPath is where the bench's own slow file is served from (the /slow/ location rate-limits).
const slowPath = "/slow/bench.bin"

// prepareSlow writes the bench's slow file into n's document root and returns its sha256.
func prepareSlow(n *testbed.Nginx, size int64) (string, error) {
	sum, err := load.WriteFile(filepath.Join(n.Dir, "html", slowPath), size)
	if err != nil {
		return "", fmt.Errorf("bench slow file: %w", err)
	}
	return sum, nil
}

// traffic is a Load running against one nginx.
type traffic struct {
	start    time.Time
	stream   *load.Stream
	wrk      *load.Wrk
	dl       *load.Downloads
	cancelDL context.CancelFunc
}

// trafficResult is what the three saw.
type trafficResult struct {
	Stream    load.StreamResult
	Wrk       load.WrkResult
	WrkErr    error
	Downloads []load.DownloadResult
}

// startTraffic starts the load against the nginx serving base (e.g. http://127.0.0.1:8080), whose
// slowPath has slowSHA.
func startTraffic(ctx context.Context, base string, l Load, slowSHA string) (*traffic, error) {
	tr := &traffic{}
	var err error
	if tr.stream, err = load.StartStream(ctx, load.StreamConfig{URL: base + "/", Rate: l.Rate, Timeout: l.Timeout}); err != nil {
		return nil, err
	}
	// The stream's clock starts inside StartStream; this is at most microseconds later.
	tr.start = time.Now()
	if tr.wrk, err = load.StartWrk(ctx, load.WrkConfig{URL: base + "/", Duration: l.Duration, Connections: l.WrkConns, Threads: 1}); err != nil {
		tr.stream.Stop()
		return nil, err
	}
	// A download lasts DownloadSize at 1 MiB/s; the deadline only catches one that hangs.
	dctx, cancel := context.WithTimeout(ctx, time.Duration(l.DownloadSize>>20)*time.Second+time.Minute)
	tr.cancelDL = cancel
	tr.dl = load.StartDownloads(dctx, l.Downloads, load.File{URL: base + slowPath, Size: l.DownloadSize, SHA256: slowSHA})
	return tr, nil
}

// clock places a wall-clock moment on the load's timeline.
func (tr *traffic) clock(t time.Time) time.Duration { return t.Sub(tr.start) }

// stop waits for wrk's fixed duration, then stops the stream and waits for the downloads.
func (tr *traffic) stop() trafficResult {
	var r trafficResult
	r.Wrk, r.WrkErr = tr.wrk.Wait()
	r.Stream = tr.stream.Stop()
	r.Downloads = tr.dl.Wait()
	tr.cancelDL()
	return r
}
