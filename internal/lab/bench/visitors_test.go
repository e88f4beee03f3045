package bench

import "testing"

func TestCountHandshakes(t *testing.T) {
	log := "1796101589.123 TLSv1.2 . 200\n1796101589.623 TLSv1.2 r 200\n1796101590.101 TLSv1.2 r 200\n"
	if n, r, err := countHandshakes([]byte(log)); err != nil || n != 3 || r != 2 {
		t.Errorf("countHandshakes = %d, %d, %v; want 3 handshakes, 2 resumed", n, r, err)
	}
	if n, r, err := countHandshakes(nil); err != nil || n != 0 || r != 0 {
		t.Errorf("countHandshakes(empty) = %d, %d, %v; want 0, 0", n, r, err)
	}
	// A log of another format must not be read as handshakes none of which resumed.
	for _, bad := range []string{"127.0.0.1 - - [01/Dec/2026:05:00:00 +0000] \"GET / HTTP/1.1\" 200 3\n", "1796101589.123 TLSv1.2 - 200\n"} {
		if n, r, err := countHandshakes([]byte(bad)); err == nil {
			t.Errorf("countHandshakes(%q) = %d, %d, nil; want an error", bad, n, r)
		}
	}
}
