package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// OpenSSLVisitors makes a Stream's visitors resume by TLS 1.2 session ID, as browsers do with a
// server that issues no tickets (nginx's `ssl_session_tickets off`): Go's client resumes by
// tickets only. Each request is then an `openssl s_client -tls1_2` process (fork and exec cost
// milliseconds: keep the rate low), and each visitor keeps its session in a file between them
// (-sess_in, -sess_out), as a browser keeps its session cache.
type OpenSSLVisitors struct {
	CAFile     string // PEM the server's certificate must verify against
	ServerName string // sent as SNI and the Host header, and verified in the certificate
	Dir        string // where the visitors' session files go
}

// sClient sends one request as visitor v: a new connection, resuming v's session if v has one.
// A new session replaces v's only when the process has ended, so a visitor's next request never
// reads a file half written.
func (o *OpenSSLVisitors) sClient(ctx context.Context, rawURL string, v int) (got, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return got{}, fmt.Errorf("parse url: %w", err)
	}
	sess := filepath.Join(o.Dir, fmt.Sprintf("visitor-%d.sess", v))
	args := []string{"s_client", "-connect", u.Host, "-servername", o.ServerName, "-tls1_2",
		"-CAfile", o.CAFile, "-verify_return_error", "-verify_hostname", o.ServerName,
		"-ign_eof", "-sess_out", sess + ".new"} // -ign_eof: read the answer to its end, not stop at stdin's
	if _, err := os.Stat(sess); err == nil {
		args = append(args, "-sess_in", sess)
	}
	cmd := exec.CommandContext(ctx, "openssl", args...)
	cmd.Stdin = strings.NewReader("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + o.ServerName + "\r\nConnection: close\r\n\r\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return got{}, ctx.Err()
	}
	if err != nil {
		return got{}, sClientError(err, stderr.String())
	}
	// s_client writes no session when it resumed one: the visitor keeps the one it has.
	if err := os.Rename(sess+".new", sess); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return got{}, fmt.Errorf("keep the session: %w", errors.Unwrap(err))
	}
	return parseSClient(out)
}

// parseSClient reads s_client's report of a handshake ("New, TLSv1.2, Cipher is ..." or
// "Reused, ...", printed before the server's answer) and the answer's status line. A status
// without a handshake line, or the reverse, is an error.
func parseSClient(out []byte) (got, error) {
	var g got
	handshake := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !handshake && (strings.HasPrefix(line, "New, ") || strings.HasPrefix(line, "Reused, ")):
			handshake, g.resumed = true, strings.HasPrefix(line, "Reused, ")
		case handshake && strings.HasPrefix(line, "HTTP/1."):
			f := strings.Fields(line)
			if len(f) < 2 {
				return got{}, fmt.Errorf("s_client: bad status line %q", line)
			}
			status, err := strconv.Atoi(f[1])
			if err != nil {
				return got{}, fmt.Errorf("s_client: bad status line %q", line)
			}
			g.status = status
			return g, nil
		}
	}
	if handshake {
		return got{}, errors.New("no response")
	}
	return got{}, errors.New("s_client: no handshake")
}

// sClientError names s_client's failure as kind names a Go client's.
func sClientError(err error, stderr string) error {
	switch {
	case strings.Contains(stderr, "errno=111"), strings.Contains(stderr, "Connection refused"):
		return errors.New("connect refused")
	case strings.Contains(stderr, "errno=104"), strings.Contains(stderr, "Connection reset"):
		return errors.New("reset")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("s_client exit %d", ee.ExitCode())
	}
	return fmt.Errorf("s_client: %w", err)
}
