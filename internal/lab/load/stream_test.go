package load

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// runStream runs a stream of cfg.Max requests to the end.
func runStream(t *testing.T, cfg StreamConfig) StreamResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := StartStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatalf("stream of %d requests at %d/s did not finish issuing: %v", cfg.Max, cfg.Rate, ctx.Err())
	}
	r := s.Stop()
	t.Log(r)
	return r
}

func TestStreamCountsStatusFailures(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%4 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if r.Header.Get("Connection") != "close" {
			t.Errorf("request without Connection: close")
		}
		w.Write([]byte("hello\n"))
	}))
	defer srv.Close()

	r := runStream(t, StreamConfig{URL: srv.URL, Rate: 200, Timeout: 2 * time.Second, Max: 100})
	if r.Sent != 100 || r.OK != 75 || r.Failed != 25 || r.Errors["status 500"] != 25 || len(r.Errors) != 1 {
		t.Errorf("got %s, want sent 100 ok 75 failed 25, all status 500", r)
	}
	for _, rec := range r.Records {
		if want := rec.Status == 500; (rec.Err != "") != want {
			t.Errorf("record %+v: status and error disagree", rec)
		}
	}
}

func TestStreamCountsStallAsTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; ends when the client gives up
	}))
	defer srv.Close()

	timeout := 200 * time.Millisecond
	r := runStream(t, StreamConfig{URL: srv.URL, Rate: 50, Timeout: timeout, Max: 5})
	if r.Sent != 5 || r.Failed != 5 || r.Errors["timeout"] != 5 {
		t.Errorf("got %s, want 5 timeouts", r)
	}
	for _, rec := range r.Records {
		if rec.Latency < timeout || rec.Latency > timeout+time.Second {
			t.Errorf("timed out request took %s, want about %s", rec.Latency, timeout)
		}
	}
}

func TestStreamCountsConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	ln.Close()

	r := runStream(t, StreamConfig{URL: url, Rate: 100, Timeout: time.Second, Max: 10})
	if r.Sent != 10 || r.Failed != 10 || r.Errors["connect refused"] != 10 {
		t.Errorf("got %s, want 10 connect refused", r)
	}
}

func TestStreamCountsCutResponses(t *testing.T) {
	// Each request is answered with half a body, then the connection is closed: gently
	// (FIN, "eof") for even requests, abruptly (RST, "reset") for odd ones.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reset := n.Add(1)%2 == 1
		w.Header().Set("Content-Length", "100")
		w.Write(make([]byte, 50))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if reset {
			conn.(*net.TCPConn).SetLinger(0)
		}
		conn.Close()
	}))
	defer srv.Close()

	r := runStream(t, StreamConfig{URL: srv.URL, Rate: 100, Timeout: time.Second, Max: 10})
	if r.Failed != 10 || r.Errors["eof"]+r.Errors["reset"] != 10 || r.Errors["eof"] == 0 {
		t.Errorf("got %s, want 10 failures, all eof or reset", r)
	}
	for _, rec := range r.Records {
		if rec.Status != 200 {
			t.Errorf("record %+v: want status 200: the header arrived, the body did not", rec)
		}
	}
}

func TestStreamIsOpenLoop(t *testing.T) {
	// Every answer takes 300ms. A closed-loop client would need 50*300ms; an open-loop
	// one sends all 50 in half a second and Stop waits for the last ones without cutting
	// them.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()

	r := runStream(t, StreamConfig{URL: srv.URL, Rate: 100, Timeout: 2 * time.Second, Max: 50})
	if r.Sent != 50 || r.OK != 50 {
		t.Errorf("got %s, want 50 ok", r)
	}
	if last := r.Records[len(r.Records)-1].Start; last > 2*time.Second {
		t.Errorf("last request sent at %s, want about 490ms: slow answers held the stream back", last)
	}
}

func TestStreamHonoursRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()

	const rate = 200
	r := runStream(t, StreamConfig{URL: srv.URL, Rate: rate, Timeout: 2 * time.Second, Max: rate})
	if r.OK != rate {
		t.Fatalf("got %s, want %d ok", r, rate)
	}
	for i, rec := range r.Records {
		if due := time.Duration(i) * time.Second / rate; rec.Start < due {
			t.Fatalf("request %d sent at %s, before its time %s", i, rec.Start, due)
		}
	}
	// Catching up after a stall is allowed, so only bound the count loosely.
	if n := r.Window(0, 500*time.Millisecond).Sent; n < rate/2*9/10 || n > rate/2*11/10 {
		t.Errorf("%d requests in the first 500ms, want %d±10%%", n, rate/2)
	}
}

func TestLoadRefusesNonLoopback(t *testing.T) {
	ctx := t.Context()
	for _, url := range []string{"http://192.0.2.1/", "http://10.0.0.1:8080/", "http://[2001:db8::1]/", "https://127.0.0.1/", "127.0.0.1"} {
		if s, err := StartStream(ctx, StreamConfig{URL: url, Rate: 1, Timeout: time.Second}); err == nil {
			s.Stop()
			t.Errorf("StartStream(%s) started, want refused", url)
		}
		if d := Download(ctx, File{URL: url, Size: 1}); d.Err == "" || d.OK {
			t.Errorf("Download(%s) = %+v, want refused", url, d)
		}
		if w, err := StartWrk(ctx, WrkConfig{URL: url, Duration: time.Second}); err == nil {
			w.Wait()
			t.Errorf("StartWrk(%s) started, want refused", url)
		}
	}
	for _, url := range []string{"http://127.0.0.1:1/", "http://127.8.9.10/", "http://[::1]/", "http://localhost:8080/x"} {
		if err := checkLoopback(ctx, url, "http"); err != nil {
			t.Errorf("checkLoopback(%s) = %v, want nil", url, err)
		}
	}
}
