package load

import "testing"

func TestParseWrk(t *testing.T) {
	// Real wrk 4.1.0 output against nginx 1.22 stopped with SIGTERM during the run.
	out := `Running 3s test @ http://127.0.0.1:19050/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   365.79us  242.06us   4.07ms   77.11%
    Req/Sec    17.16k     5.97k   21.08k    90.91%
  18797 requests in 3.01s, 4.21MB read
  Socket errors: connect 1, read 21, write 2520, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   6250.91
Transfer/sec:      1.40MB
`
	r, err := parseWrk(out)
	want := WrkResult{Requests: 18797, Non2xx3xx: 7, Connect: 1, Read: 21, Write: 2520, Timeout: 3, Raw: out}
	if err != nil || r != want || r.Failed() != 2552 {
		t.Errorf("parseWrk = %+v, %v; want %+v, failed 2552", r, err, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:19059 Connection refused\n"); err == nil {
		t.Error("parseWrk of a failed run: want error")
	}
}
