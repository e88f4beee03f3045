// Package health checks that an nginx serves: its listening sockets accept connections and the
// operator's URLs answer. It learns the sockets from the master itself (its open file descriptors),
// so there is nothing to configure and nothing to get wrong.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Checker runs the checks. The zero value checks listeners only.
type Checker struct {
	URLs []string // as ParseURL reads them
}

// Check dials every TCP and unix socket the master listens on and fetches every URL. UDP
// sockets are not dialled (nothing accepts on them); the master holding them bound is enough.
func (c Checker) Check(ctx context.Context, master int) error {
	ls, err := Listeners(master)
	if err != nil {
		return err
	}
	if len(ls) == 0 {
		return fmt.Errorf("master %d has no listening sockets (TCP, UDP or unix)", master)
	}
	for _, l := range ls {
		if !l.Dialled() {
			continue
		}
		if err := Accepts(ctx, l); err != nil {
			return err
		}
	}
	for _, u := range c.URLs {
		if err := Get(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// Accepts reports whether a connection to the stream listener l is accepted.
func Accepts(ctx context.Context, l Listener) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, l.Network, l.Addr)
	if err != nil {
		return fmt.Errorf("listener %s does not accept: %w", l, err)
	}
	return conn.Close()
}

// Get fetches rawURL (see ParseURL) on a new connection and wants a 2xx or 3xx answer with its
// whole body. Redirects are not followed: a 3xx is the server answering.
func Get(ctx context.Context, rawURL string) error {
	u, err := ParseURL(rawURL)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	if u.Socket != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", u.Socket)
		}
	}
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return fmt.Errorf("health url %s: %w", rawURL, err)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health url %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("health url %s: reading body: %w", rawURL, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health url %s answered %s after %s", rawURL, resp.Status, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// ErrNoNetNS means /proc/PID/net could not be read (the process is gone).
var ErrNoNetNS = errors.New("cannot read the process's network tables")
