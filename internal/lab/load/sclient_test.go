package load

import (
	"errors"
	"os/exec"
	"testing"
)

// sClientOut is openssl s_client's output, shortened, for a handshake and the answer after it.
func sClientOut(handshake, answer string) []byte {
	return []byte("CONNECTED(00000003)\n---\nCertificate chain\n---\nSSL handshake has read 141 bytes and written 287 bytes\n" +
		"Verification: OK\n---\n" + handshake + "\nServer public key is 256 bit\nSSL-Session:\n    Protocol  : TLSv1.2\n---\n" + answer)
}

func TestParseSClient(t *testing.T) {
	for _, c := range []struct {
		name    string
		out     []byte
		status  int
		resumed bool
		err     string
	}{
		{"full handshake", sClientOut("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384", "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\nok\n"), 200, false, ""},
		{"resumed", sClientOut("Reused, TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384", "HTTP/1.1 200 OK\r\n\r\nok\n"), 200, true, ""},
		{"error status", sClientOut("Reused, TLSv1.2, Cipher is X", "HTTP/1.1 502 Bad Gateway\r\n\r\n"), 502, true, ""},
		// The answer's body may hold lines like s_client's own: only the first, before the status, counts.
		{"body quotes a handshake", sClientOut("New, TLSv1.2, Cipher is X", "HTTP/1.0 200 ok\r\n\r\nReused, TLSv1.2, Cipher is X\n"), 200, false, ""},
		{"closed before answering", sClientOut("Reused, TLSv1.2, Cipher is X", ""), 0, false, "no response"},
		{"no handshake", []byte("CONNECTED(00000003)\nHTTP/1.1 200 OK\r\n"), 0, false, "s_client: no handshake"},
		{"bad status", sClientOut("New, TLSv1.2, Cipher is X", "HTTP/1.1 OK\r\n"), 0, false, `s_client: bad status line "HTTP/1.1 OK"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := parseSClient(c.out)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("parseSClient = %+v, %v; want error %q", g, err, c.err)
				}
				return
			}
			if err != nil || g.status != c.status || g.resumed != c.resumed {
				t.Fatalf("parseSClient = status %d resumed %t, %v; want status %d resumed %t", g.status, g.resumed, err, c.status, c.resumed)
			}
		})
	}
}

func TestSClientErrorNamesTheFailure(t *testing.T) {
	exit1 := exec.Command("false").Run()
	for _, c := range []struct {
		err    error
		stderr string
		want   string
	}{
		{exit1, "40F7E1A1A57F0000:error:8000006F:system library:BIO_connect:Connection refused:...\nconnect:errno=111\n", "connect refused"},
		{exit1, "read:errno=104\n", "reset"},
		{exit1, "verify error:num=62:hostname mismatch\n", "s_client exit 1"},
		{errors.New("exec: \"openssl\": executable file not found in $PATH"), "", `s_client: exec: "openssl": executable file not found in $PATH`},
	} {
		if got := kind(sClientError(c.err, c.stderr)); got != c.want {
			t.Errorf("kind(sClientError(%v, %q)) = %q, want %q", c.err, c.stderr, got, c.want)
		}
	}
}
