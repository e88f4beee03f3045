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
	URLs []string
}

// Check dials every TCP socket the master listens on and fetches every URL.
func (c Checker) Check(ctx context.Context, master int) error {
	addrs, err := Listeners(master)
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return fmt.Errorf("master %d has no listening TCP sockets", master)
	}
	for _, a := range addrs {
		if err := Accepts(ctx, a); err != nil {
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

// Accepts reports whether a TCP connection to addr is accepted.
func Accepts(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listener %s does not accept: %w", addr, err)
	}
	return conn.Close()
}

// Get fetches url on a new connection and wants a 2xx or 3xx answer with its whole body.
// Redirects are not followed: a 3xx is the server answering.
func Get(ctx context.Context, url string) error {
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health url %s: %w", url, err)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health url %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("health url %s: reading body: %w", url, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health url %s answered %s after %s", url, resp.Status, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// ErrNoNetNS means /proc/PID/net could not be read (the process is gone).
var ErrNoNetNS = errors.New("cannot read the process's network tables")
