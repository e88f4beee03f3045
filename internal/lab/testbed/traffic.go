package testbed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
)

// Traffic is the load every swap test runs under, three kinds at once: wrk for pressure (every
// request a new connection), an open-loop stream at a fixed rate with per-request timeouts (the
// only one that sees stalls), and slow downloads that must arrive whole.
type Traffic struct {
	socket string    // Site.Socket
	start  time.Time // the stream's clock: its records' Start are from here
	stream *load.Stream
	wrk    *load.Wrk
	dl     *load.Downloads // or, with KeepDownloading:
	keep   *keepDownloading
	cancel context.CancelFunc // releases the downloads' deadline
}

// TrafficConfig sizes the load. Zero values take modest defaults: these machines have 2 cores.
type TrafficConfig struct {
	Rate        int           // open-loop requests per second (default 300)
	Timeout     time.Duration // per request (default 2s)
	WrkDuration time.Duration // wrk runs this long (default 10s); Stop waits for it
	WrkConns    int           // default 8
	Downloads   int           // concurrent slow downloads (default 2)
	// DownloadSize is the size of the site's /slow/big.bin (default SlowSize): a site may serve a
	// larger one, so that downloads outlast a longer swap (the bench's do).
	DownloadSize int64
	// KeepDownloading starts a new download as each one ends, until Stop: for long runs (a
	// fleet's rolling swap), so that downloads are in flight whenever a swap happens.
	KeepDownloading bool
	// NoWrk leaves out wrk's closed-loop pressure: the open-loop stream and the downloads still
	// see every stall and cut. For hosts where the actor under test needs the CPU wrk would
	// take (three fleet hosts' wrk starve ansible-playbook on two cores).
	NoWrk bool
}

// Site is what traffic targets: an nginx serving "/" and SlowSize bytes (or
// TrafficConfig.DownloadSize) at /slow/big.bin.
type Site struct {
	Base    string // e.g. http://127.0.0.1:80
	SlowSHA string // sha256 of /slow/big.bin
	NetNS   string // the network namespace whose loopback Base is on ("" = the host's)
	// Socket, when set, is the unix socket the site is reached on (Base then only names the
	// Host header). wrk cannot connect to a unix socket: the stream and the downloads go over
	// it, and there is no wrk.
	Socket string
}

// StartTraffic starts all three against site.
func StartTraffic(ctx context.Context, site Site, cfg TrafficConfig) (*Traffic, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Rate, 300)
	def(&cfg.WrkConns, 8)
	def(&cfg.Downloads, 2)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.WrkDuration == 0 {
		cfg.WrkDuration = 10 * time.Second
	}
	if cfg.DownloadSize == 0 {
		cfg.DownloadSize = SlowSize
	}
	tr := &Traffic{socket: site.Socket}
	var err error
	if tr.stream, err = load.StartStream(ctx, load.StreamConfig{URL: site.Base + "/", Rate: cfg.Rate, Timeout: cfg.Timeout, NetNS: site.NetNS, Socket: site.Socket}); err != nil {
		return nil, err
	}
	// The stream's clock starts inside StartStream; this is at most microseconds later.
	tr.start = time.Now()
	if !cfg.NoWrk && site.Socket == "" {
		if tr.wrk, err = load.StartWrk(ctx, load.WrkConfig{URL: site.Base + "/", Duration: cfg.WrkDuration, Connections: cfg.WrkConns, Threads: 1, NetNS: site.NetNS}); err != nil {
			tr.stream.Stop()
			return nil, err
		}
	}
	file := load.File{URL: site.Base + "/slow/big.bin", Size: cfg.DownloadSize, SHA256: site.SlowSHA, NetNS: site.NetNS, Socket: site.Socket}
	if cfg.KeepDownloading {
		tr.keep = startKeepDownloading(ctx, cfg.Downloads, file)
	} else {
		var dctx context.Context
		dctx, tr.cancel = context.WithTimeout(ctx, downloadTimeout(file.Size))
		tr.dl = load.StartDownloads(dctx, cfg.Downloads, file)
	}
	return tr, nil
}

// downloadTimeout bounds a download of size bytes: it lasts its size at SlowRate (1 MiB/s); the
// minute more only catches one that hangs.
func downloadTimeout(size int64) time.Duration {
	return time.Duration(size>>20)*time.Second + time.Minute
}

// Clock places a wall-clock moment on the stream's timeline, where its records are.
func (tr *Traffic) Clock(t time.Time) time.Duration { return t.Sub(tr.start) }

// keepDownloading runs n download loops until stopped.
type keepDownloading struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []load.DownloadResult
}

func startKeepDownloading(ctx context.Context, n int, f load.File) *keepDownloading {
	k := &keepDownloading{stop: make(chan struct{})}
	for range n {
		k.wg.Go(func() {
			for {
				select {
				case <-k.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				dctx, cancel := context.WithTimeout(ctx, downloadTimeout(f.Size))
				r := load.Download(dctx, f)
				cancel()
				k.mu.Lock()
				k.results = append(k.results, r)
				k.mu.Unlock()
			}
		})
	}
	return k
}

// wait lets the downloads in flight finish and returns every result.
func (k *keepDownloading) wait() []load.DownloadResult {
	close(k.stop)
	k.wg.Wait()
	return k.results
}

// TrafficResult is what the three saw (the stream and downloads only, for a Site.Socket).
type TrafficResult struct {
	Socket    string // the unix socket the traffic went over, without wrk; "" for TCP
	WrkRan    bool   // false for a Socket or with TrafficConfig.NoWrk
	Stream    load.StreamResult
	Wrk       load.WrkResult
	WrkErr    error
	Downloads []load.DownloadResult
}

// Stop waits for wrk to finish its fixed duration, then stops the stream, so both measure the
// same window however early Stop is called; then it waits for the downloads.
func (tr *Traffic) Stop() TrafficResult {
	var r TrafficResult
	if r.WrkRan = tr.wrk != nil; r.WrkRan {
		r.Wrk, r.WrkErr = tr.wrk.Wait()
	}
	return tr.stopRest(r)
}

// StopNow stops wrk and the stream at once, however long wrk was to run; the downloads in
// flight finish.
func (tr *Traffic) StopNow() TrafficResult {
	var r TrafficResult
	if r.WrkRan = tr.wrk != nil; r.WrkRan {
		r.Wrk, r.WrkErr = tr.wrk.Stop()
	}
	return tr.stopRest(r)
}

func (tr *Traffic) stopRest(r TrafficResult) TrafficResult {
	r.Socket = tr.socket
	r.Stream = tr.stream.Stop()
	if tr.keep != nil {
		r.Downloads = tr.keep.wait()
	} else {
		r.Downloads = tr.dl.Wait()
		tr.cancel()
	}
	return r
}

// Failed counts every failed request and cut download; a wrk that did not run counts as one.
func (r TrafficResult) Failed() int {
	n := r.Stream.Failed + r.Wrk.Failed()
	for _, d := range r.Downloads {
		if !d.OK {
			n++
		}
	}
	if r.WrkErr != nil {
		n++
	}
	return n
}

func (r TrafficResult) String() string {
	s := fmt.Sprintf("stream: %s\nwrk: %d requests, %d failed (non-2xx/3xx %d, connect %d, read %d, write %d, timeout %d)",
		r.Stream, r.Wrk.Requests, r.Wrk.Failed(), r.Wrk.Non2xx3xx, r.Wrk.Connect, r.Wrk.Read, r.Wrk.Write, r.Wrk.Timeout)
	switch {
	case r.Socket != "":
		s = fmt.Sprintf("over unix socket %s\nstream: %s\nwrk: not run (it cannot connect to a unix socket)", r.Socket, r.Stream)
	case !r.WrkRan:
		s = fmt.Sprintf("stream: %s\nwrk: not run", r.Stream)
	}
	if r.WrkErr != nil {
		s += fmt.Sprintf(" (wrk error: %v)", r.WrkErr)
	}
	for _, d := range r.Downloads {
		s += fmt.Sprintf("\ndownload: %d/%d bytes in %s ok=%v %s", d.Bytes, d.Want, d.Duration.Round(time.Millisecond), d.OK, d.Err)
	}
	return s
}
