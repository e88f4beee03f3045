package load

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// StreamConfig configures a Stream.
type StreamConfig struct {
	URL     string        // loopback only
	Rate    int           // requests per second, e.g. 500
	Timeout time.Duration // per request, e.g. 2s
	Max     int           // optional upper bound on requests (0 = until Stop/ctx)
	NetNS   string        // network namespace to send from, e.g. /proc/PID/ns/net ("" = this one)
	Socket  string        // a unix socket to send to (URL then names the host header), "" for TCP
	// Visitors, for an https URL, sends the requests from that many returning visitors in turn,
	// each with a TLS session cache of its own, as a browser keeps one: every handshake after a
	// visitor's first may resume (Record.Resumed says whether it did). TLS is the visitors'
	// configuration (MaxVersion picks TLS 1.2 or 1.3; the cache is set per visitor).
	Visitors int
	TLS      *tls.Config
	// OpenSSL, with Visitors, makes the visitors openssl processes that resume by TLS 1.2
	// session ID instead (TLS is then unused).
	OpenSSL *OpenSSLVisitors
}

// Stream is an open-loop, fixed-rate HTTP request stream: request i is sent at start+i/rate
// whatever happened to earlier ones. Closed-loop tools like wrk are blind to stalls: requests
// stuck in a backlog nobody accepts are never counted. Every request uses a new TCP
// connection (Connection: close) and has its own timeout; every outcome is counted.
type Stream struct {
	cfg    StreamConfig
	send   func(ctx context.Context, i int) (got, error) // request i
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{} // closed when the last request has been issued
	slots  chan struct{} // one per request in flight
	wg     sync.WaitGroup

	mu      sync.Mutex
	records []Record
}

// StartStream starts issuing requests. It stops at cfg.Max requests, on Stop, or when ctx is
// done; requests in flight then run to completion or to their own timeout.
func StartStream(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	if cfg.Rate <= 0 || cfg.Timeout <= 0 || cfg.Max < 0 {
		return nil, fmt.Errorf("start stream: need rate > 0, timeout > 0, max >= 0; got %d, %s, %d", cfg.Rate, cfg.Timeout, cfg.Max)
	}
	scheme, clients := "http", []*http.Client{newClient(cfg.NetNS, cfg.Socket, nil)}
	// Request i comes from visitor i%len(clients), or i%Visitors with OpenSSL.
	send := func(ctx context.Context, i int) (got, error) {
		return get(ctx, clients[i%len(clients)], cfg.URL, io.Discard)
	}
	switch {
	case cfg.Visitors > 0 && cfg.OpenSSL != nil:
		if cfg.Socket != "" || cfg.NetNS != "" {
			return nil, fmt.Errorf("start stream: %d openssl visitors need TCP from this network namespace", cfg.Visitors)
		}
		scheme = "https"
		send = func(ctx context.Context, i int) (got, error) {
			return cfg.OpenSSL.sClient(ctx, cfg.URL, i%cfg.Visitors)
		}
	case cfg.Visitors > 0:
		if cfg.TLS == nil || cfg.Socket != "" {
			return nil, fmt.Errorf("start stream: %d visitors need a TLS configuration and TCP", cfg.Visitors)
		}
		scheme, clients = "https", nil
		for range cfg.Visitors {
			c := cfg.TLS.Clone()
			c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			clients = append(clients, newClient(cfg.NetNS, "", c))
		}
	}
	if err := checkLoopback(ctx, cfg.URL, scheme); err != nil {
		return nil, fmt.Errorf("start stream: %w", err)
	}
	// Requests finish within Timeout, so at most Rate*Timeout are in flight; the margin
	// of one second's worth absorbs scheduling jitter. Past that the client, not the
	// server, is the bottleneck, and a dead server must not exhaust the test's memory.
	inflight := int(float64(cfg.Rate)*cfg.Timeout.Seconds()) + cfg.Rate
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{
		cfg:    cfg,
		send:   send,
		start:  time.Now(),
		cancel: cancel,
		done:   make(chan struct{}),
		slots:  make(chan struct{}, inflight),
	}
	go s.run(ctx)
	return s, nil
}

// Done is closed when the stream has issued its last request: Max reached, Stop called or
// ctx done.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Stop stops issuing, waits for in-flight requests (each bounded by Timeout) and returns
// the totals.
func (s *Stream) Stop() StreamResult {
	s.cancel()
	<-s.done
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return summarize(s.records)
}

// run issues request i at start+i/rate. Deadlines are computed from start rather than
// slept between requests, so the rate does not drift, and a late scheduler catches up
// rather than silently sending fewer requests.
func (s *Stream) run(ctx context.Context) {
	defer close(s.done)
	for i := int64(0); s.cfg.Max == 0 || i < int64(s.cfg.Max); i++ {
		due := time.Duration(i * int64(time.Second) / int64(s.cfg.Rate))
		if wait := due - time.Since(s.start); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
		s.launch(ctx)
	}
}

// launch records a new request and sends it in its own goroutine.
func (s *Stream) launch(ctx context.Context) {
	s.mu.Lock()
	i := len(s.records)
	s.records = append(s.records, Record{Start: time.Since(s.start)})
	s.mu.Unlock()

	select {
	case s.slots <- struct{}{}:
	default:
		s.set(i, Record{Err: "client saturated"})
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		t := time.Now()
		// Stopping the stream must not cut requests already sent: they end on their own
		// or at their timeout.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
		defer cancel()
		g, err := s.send(rctx, i)
		r := Record{Latency: time.Since(t), Status: g.status, Resumed: g.resumed}
		switch {
		case err != nil:
			r.Err = kind(err)
		case g.status < 200 || g.status > 399:
			r.Err = fmt.Sprintf("status %d", g.status)
		}
		s.set(i, r)
	}()
}

// set fills in the outcome of request i, keeping its start.
func (s *Stream) set(i int, r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Start = s.records[i].Start
	s.records[i] = r
}
