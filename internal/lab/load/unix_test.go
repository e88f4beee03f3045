package load

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// serveUnix serves h on a unix socket only and returns its path.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "site.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

// With Socket set, the stream and the downloads reach a server listening on that unix socket
// only: the URL's loopback host names nothing that answers, it only fills the Host header.
func TestStreamAndDownloadsOverAUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.bin")
	sum, err := WriteFile(path, payloadSize)
	if err != nil {
		t.Fatal(err)
	}
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.bin" {
			http.ServeFile(w, r, path)
			return
		}
		w.Write([]byte("hello\n"))
	}))
	// Port 1 on loopback: nothing listens there, so an answer came over the socket.
	base := "http://127.0.0.1:1"

	r := runStream(t, StreamConfig{URL: base + "/", Rate: 200, Timeout: 2 * time.Second, Max: 50, Socket: sock})
	if r.Sent != 50 || r.OK != 50 {
		t.Errorf("stream over %s: %s, want 50 ok", sock, r)
	}
	res := StartDownloads(downloadCtx(t), 2, File{URL: base + "/big.bin", Size: payloadSize, SHA256: sum, Socket: sock}).Wait()
	for _, d := range res {
		if !d.OK {
			t.Errorf("download over %s = %+v, want whole", sock, d)
		}
	}
	if r := runStream(t, StreamConfig{URL: base + "/", Rate: 200, Timeout: 2 * time.Second, Max: 5}); r.OK != 0 {
		t.Errorf("without the socket, port 1 answered: %s", r)
	}
}
