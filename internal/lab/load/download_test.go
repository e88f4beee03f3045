package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const payloadSize = 1 << 20

// payload writes a test file with WriteFile and serves it; cut, if set, makes the server
// send only half of it and then close the connection.
func payload(t *testing.T, cut bool) (url, sum string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.bin")
	sum, err := WriteFile(path, payloadSize)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big.bin" {
			http.NotFound(w, r)
			return
		}
		if !cut {
			http.ServeContent(w, r, "big.bin", time.Time{}, bytes.NewReader(data))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/big.bin", sum
}

func downloadCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWriteFileIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	a, err := WriteFile(filepath.Join(dir, "a"), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := WriteFile(filepath.Join(dir, "b"), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if a != b || a != hex.EncodeToString(sum[:]) || len(data) != 100_000 {
		t.Errorf("two payloads hash %s and %s, file of %d bytes hashes %x", a, b, len(data), sum)
	}
}

func TestDownloadsArriveWhole(t *testing.T) {
	url, sum := payload(t, false)
	res := StartDownloads(downloadCtx(t), 3, File{URL: url, Size: payloadSize, SHA256: sum}).Wait()
	if len(res) != 3 {
		t.Fatalf("got %d results, want 3", len(res))
	}
	for _, d := range res {
		if !d.OK || d.Err != "" || d.Bytes != payloadSize || d.SHA256 != sum || d.Duration <= 0 {
			t.Errorf("download = %+v, want whole", d)
		}
	}
}

func TestDownloadDetectsCutBody(t *testing.T) {
	url, sum := payload(t, true)
	d := Download(downloadCtx(t), File{URL: url, Size: payloadSize, SHA256: sum})
	t.Logf("%+v", d)
	if d.OK || d.Bytes != payloadSize/2 || !strings.HasPrefix(d.Err, "eof after") {
		t.Errorf("cut download = %+v, want failed with eof after half", d)
	}
}

func TestDownloadDetectsWrongContent(t *testing.T) {
	url, sum := payload(t, false)
	ctx := downloadCtx(t)
	wrong := strings.Repeat("0", len(sum))
	if d := Download(ctx, File{URL: url, Size: payloadSize, SHA256: wrong}); d.OK || !strings.HasPrefix(d.Err, "sha256 ") || d.SHA256 != sum {
		t.Errorf("download with wrong checksum = %+v, want sha256 mismatch", d)
	}
	if d := Download(ctx, File{URL: url, Size: payloadSize + 1, SHA256: sum}); d.OK || d.Err != "got 1048576 of 1048577 bytes" {
		t.Errorf("download of wrong size = %+v, want short", d)
	}
	if d := Download(ctx, File{URL: url + ".missing", Size: payloadSize, SHA256: sum}); d.OK || d.Err != "status 404" {
		t.Errorf("download of missing file = %+v, want status error", d)
	}
}
