package bench

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// keepAliveServer answers every request with keep-alive; its connections come out on conns.
func keepAliveServer(t *testing.T) (port int, conns chan net.Conn) {
	conns = make(chan net.Conn, 16)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns <- c
			}
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port, conns
}

func TestIdleSetNotesTheServersCloses(t *testing.T) {
	port, conns := keepAliveServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := openIdleSet(ctx, port, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	start := time.Now()
	(<-conns).Close()
	if err := wait.Until(ctx, time.Millisecond, func() (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.closes) > 0, nil
	}); err != nil {
		t.Fatalf("the server's close was not noted: %v", err)
	}
	r := s.report()
	if r.Opened != 3 || len(r.Closes) != 1 || r.Closes[0].Kind != "eof" {
		t.Fatalf("report %+v; want 3 opened, 1 closed by eof", r)
	}

	// Two holders' reports add up; the closes are on the caller's clock.
	clock := func(at time.Time) time.Duration { return at.Sub(start) }
	other := holderReport{Opened: 2, OpenErrors: map[string]int{"dial: refused": 1},
		Closes: []idleClose{{At: start.Add(time.Second), Kind: "reset"}}}
	got := idleResult(6, []holderReport{r, other}, clock)
	if got.Wanted != 6 || got.Opened != 5 || got.StillOpen != 3 || got.ClosedEOF != 1 || got.ClosedOther["reset"] != 1 ||
		got.OpenErrors["dial: refused"] != 1 || got.LastCloseMS != 1000 || got.FirstCloseMS < 0 || got.FirstCloseMS > 1000 {
		t.Fatalf("idleResult = %+v", got)
	}
}

func TestHoldIdleReportsOpenedThenEnds(t *testing.T) {
	port, _ := keepAliveServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- HoldIdle(ctx, []string{strconv.Itoa(port), "0", "3"}, inR, outW)
		outW.Close()
	}()
	dec := json.NewDecoder(outR)
	for i, want := range []string{"", "report\n"} {
		if want != "" {
			io.WriteString(inW, want)
		}
		var r holderReport
		if err := dec.Decode(&r); err != nil || r.Opened != 3 {
			t.Fatalf("report %d: %+v, %v; want 3 opened", i+1, r, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := HoldIdle(ctx, []string{"80", "x", "3"}, inR, io.Discard); err == nil {
		t.Error("a holder took a first connection of x")
	}
}

func TestIdleWorkers(t *testing.T) {
	for _, c := range []struct {
		idle   int
		nofile uint64
		want   int
	}{
		{10000, 20000, 2},  // one worker could hold all 10,000 beside the load
		{15904, 20000, 2},  // exactly what one worker holds
		{15905, 20000, 2},  // two hold 3/4 each
		{50000, 20000, 5},  // 10,000 each, of the 15,904 one can hold
		{50000, 65536, 2},  // where the limit is 64 Ki
		{200000, 65536, 5}, // 40,000 each of 61,440
	} {
		if got := IdleWorkers(c.idle, c.nofile, 2); got != c.want {
			t.Errorf("IdleWorkers(%d, %d, 2) = %d; want %d", c.idle, c.nofile, got, c.want)
		}
	}
}
