package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// visitorLoad is the TLS axis's load beside the usual one: returning visitors that resume their
// sessions, and the CPU of every nginx process of the prefix, both on the load's timeline.
type visitorLoad struct {
	stream *load.Stream
	at     time.Duration // the load's clock when the visitors started
	clock  func(time.Time) time.Duration
	cpu    *cpuSampler
	log    string // nginx's handshake log, on the session-ID point

	once    sync.Once
	res     load.StreamResult
	samples []cpuSample
}

func startVisitors(ctx context.Context, site tlsSite, binary string, tr *testbed.Traffic) (*visitorLoad, error) {
	s, at, err := startTLSLoad(ctx, site, tr)
	if err != nil {
		return nil, err
	}
	return &visitorLoad{stream: s, at: at, clock: tr.Clock, cpu: sampleCPU(binary, tr.Clock), log: site.log}, nil
}

func (v *visitorLoad) stop() {
	v.once.Do(func() {
		v.res = v.stream.Stop()
		v.samples = v.cpu.stop()
	})
}

// tlsAfter is how long after the swap window the "after" window lasts; resumeBucket is the
// resolution of the time series.
const (
	tlsAfter     = 5 * time.Second
	resumeBucket = 250 * time.Millisecond
)

// measure waits for the end of the after window, stops the visitors and reads their windows
// around r's swap: before is the steady window; during from the swap's start until a second
// after the new build served or the last signal, whichever is later (the old workers accept
// until WINCH, or QUIT); after is the tlsAfter that follow.
func (v *visitorLoad) measure(ctx context.Context, r report.Run) (*report.TLSRun, error) {
	steadyFrom, swap := report.Dur(r.SteadyFromMS), report.Dur(r.SwapStartMS)
	end := swap + report.Dur(max(r.NewServingMS, 0))
	for _, m := range r.Marks {
		end = max(end, m.At)
	}
	during := end + time.Second
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(during + tlsAfter - v.clock(time.Now())):
	}
	v.stop()
	win := func(from, to time.Duration) load.StreamResult { return v.res.Window(from-v.at, to-v.at) }
	pct := func(w load.StreamResult) float64 {
		if w.OK == 0 {
			return -1
		}
		return 100 * float64(w.Resumed) / float64(w.OK)
	}
	before, in, after := win(steadyFrom, swap), win(swap, during), win(during, during+tlsAfter)
	t := &report.TLSRun{Sent: v.res.Sent, Failed: v.res.Failed, Resumed: v.res.Resumed, Errors: v.res.Errors,
		ResumedBeforePct: pct(before), ResumedDuringPct: pct(in), ResumedAfterPct: pct(after),
		FullPerSSteady: float64(before.OK-before.Resumed) / (swap - steadyFrom).Seconds(),
		NginxCPUSteady: cpuPct(v.samples, steadyFrom, swap), NginxCPUSwap: cpuPct(v.samples, swap, during),
		SteadyP99MS: report.Millis(before.Percentile(99)), SwapP99MS: report.Millis(in.Percentile(99))}
	t.P99Ratio = report.Ratio(t.SwapP99MS, t.SteadyP99MS)
	if v.log != "" {
		log, err := os.ReadFile(v.log)
		if err != nil {
			return nil, fmt.Errorf("tls: nginx's handshake log: %w", err)
		}
		if t.NginxLogged, t.NginxResumed, err = countHandshakes(log); err != nil {
			return nil, fmt.Errorf("tls: nginx's handshake log %s: %w", v.log, err)
		}
	}
	for from := swap; from < during+tlsAfter; from += time.Second {
		w := win(from, from+time.Second)
		t.FullPerSPeak = max(t.FullPerSPeak, float64(w.OK-w.Resumed))
	}
	for _, b := range v.res.Timeline(resumeBucket) {
		t.Series = append(t.Series, report.ResumeBucket{AtMS: report.Millis(b.Start + v.at - swap), OK: b.OK, Resumed: b.Resumed, Failed: b.Failed})
	}
	return t, nil
}

// countHandshakes reads nginx's handshake log (handshakeLog: "$msec $ssl_protocol
// $ssl_session_reused $status" a line): the handshakes that got an answer, and those that resumed
// a session ("r"; "." for a full one).
func countHandshakes(log []byte) (handshakes, resumed int, err error) {
	for line := range bytes.Lines(log) {
		f := strings.Fields(string(line))
		if len(f) != 4 || (f[2] != "r" && f[2] != ".") {
			return 0, 0, fmt.Errorf("line %d: %q is not $msec $ssl_protocol $ssl_session_reused $status", handshakes+1, line)
		}
		handshakes++
		if f[2] == "r" {
			resumed++
		}
	}
	return handshakes, resumed, nil
}
