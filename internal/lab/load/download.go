package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// DownloadResult is the outcome of one Download. OK means status 200 and exactly Want
// bytes with the wanted SHA-256; otherwise Err says what went wrong.
type DownloadResult struct {
	URL      string
	Bytes    int64 // body bytes received
	Want     int64
	SHA256   string // of the bytes received
	OK       bool
	Err      string
	Duration time.Duration
}

// File is a download that must arrive whole.
type File struct {
	URL    string // loopback only
	Size   int64
	SHA256 string // hex
	NetNS  string // network namespace to download from, e.g. /proc/PID/ns/net ("" = this one)
	Socket string // a unix socket to download over (URL then names the host header), "" for TCP
}

// Download fetches a large file slowly (the server side uses limit_rate) and checks it
// arrived whole: graceful nginx shutdowns must let downloads in flight finish, so a cut
// download is a failure. ctx bounds the download.
func Download(ctx context.Context, f File) DownloadResult {
	url, wantSize, wantSHA256 := f.URL, f.Size, f.SHA256
	r := DownloadResult{URL: url, Want: wantSize}
	if err := checkLoopback(ctx, url, "http"); err != nil {
		r.Err = err.Error()
		return r
	}
	start := time.Now()
	h := sha256.New()
	g, err := get(ctx, newClient(f.NetNS, f.Socket, nil), url, h)
	r.Duration = time.Since(start)
	r.Bytes = g.n
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	switch {
	case err != nil:
		r.Err = fmt.Sprintf("%s after %d of %d bytes", kind(err), g.n, wantSize)
	case g.status != 200:
		r.Err = fmt.Sprintf("status %d", g.status)
	case g.n != wantSize:
		r.Err = fmt.Sprintf("got %d of %d bytes", g.n, wantSize)
	case r.SHA256 != wantSHA256:
		r.Err = fmt.Sprintf("sha256 %s, want %s", r.SHA256, wantSHA256)
	default:
		r.OK = true
	}
	return r
}

// Downloads is a set of concurrent Downloads.
type Downloads struct {
	wg      sync.WaitGroup
	results []DownloadResult
}

// StartDownloads starts n concurrent Downloads.
func StartDownloads(ctx context.Context, n int, f File) *Downloads {
	d := &Downloads{results: make([]DownloadResult, n)}
	for i := range n {
		d.wg.Go(func() { d.results[i] = Download(ctx, f) })
	}
	return d
}

// Wait waits for every download (each bounded by the ctx given to StartDownloads) and
// returns the results.
func (d *Downloads) Wait() []DownloadResult {
	d.wg.Wait()
	return d.results
}

// WriteFile writes size deterministic pseudo-random bytes to path, a payload that neither
// compresses nor hides a truncation, and returns their SHA-256 in hex.
func WriteFile(path string, size int64) (sha256hex string, err error) {
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("write payload: %w", err)
	}
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{'n', 'g', 'i', 'n', 'x'})
	if _, err := io.CopyN(io.MultiWriter(f, h), src, size); err != nil {
		f.Close()
		return "", fmt.Errorf("write payload %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write payload %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
