package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bigconf"
)

func TestReadConfigReadsLinesLongerThanItsBuffer(t *testing.T) {
	// A line of 200 KiB (a long map or a base64 blob), then the directive that counts: the line
	// must be read whole, or its '#' would end up starting a comment.
	dump := "worker_processes 3; \"" + strings.Repeat("#", 200<<10) + "\" daemon off;\nmaster_process off;\n"
	got, err := ReadConfig(strings.NewReader(dump), "")
	want, wantErr := referenceParseConfig(dump, "")
	if err != nil || wantErr != nil || got != want || got != (Config{Workers: 3, Foreground: true}) {
		t.Fatalf("ReadConfig = %+v, %v; reference %+v, %v", got, err, want, wantErr)
	}
}

// fakeNginx writes an executable script standing for nginx -T.
func fakeNginx(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nginx")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTestConfigReadsTheDumpAndKeepsTheEndOfStderr(t *testing.T) {
	bin := fakeNginx(t, `printf 'worker_processes 4;\nevents {}\n'; echo "nginx: the configuration file syntax is ok" >&2`)
	if c, err := TestConfig(context.Background(), bin, StartArgs{}); err != nil || c.Workers != 4 {
		t.Fatalf("TestConfig = %+v, %v; want 4 workers", c, err)
	}
	// nginx says why it fails last, after any number of warnings.
	bin = fakeNginx(t, `i=0; while [ $i -lt 3000 ]; do echo "nginx: [warn] conflicting server name \"s$i\" on 0.0.0.0:80, ignored" >&2; i=$((i+1)); done
echo 'nginx: [emerg] unknown directive "bogus"' >&2; exit 1`)
	_, err := TestConfig(context.Background(), bin, StartArgs{})
	if !errors.Is(err, ErrConfigRejected) || !strings.HasSuffix(err.Error(), `[emerg] unknown directive "bogus"`) || len(err.Error()) > stderrKeep+200 {
		t.Fatalf("TestConfig = %.300q…, want ErrConfigRejected ending in nginx's [emerg] line, at most %d bytes", err, stderrKeep)
	}
}

func TestTestConfigKillsNginxWhenCancelled(t *testing.T) {
	// nginx's -t on a big configuration takes seconds to a minute: an interrupt must not wait.
	bin := fakeNginx(t, "printf 'worker_processes 2;\\n'; exec sleep 60\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := TestConfig(ctx, bin, StartArgs{})
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrConfigRejected) || took > 5*time.Second {
		t.Fatalf("TestConfig after %s = %v; want the context's error, soon after 200ms", took, err)
	}
}

// benchDump is a `-T` dump of n server blocks with two regex locations each, as bigconf makes it.
func benchDump(b *testing.B, n int) []byte {
	b.Helper()
	var dump strings.Builder
	o := bigconf.Options{Servers: n, Listen: "127.0.0.1:8080", RegexLocations: 2, Maps: 10, MapEntries: 100}
	if err := bigconf.WriteDump(&dump, "worker_processes 2;\nevents {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n", o); err != nil {
		b.Fatal(err)
	}
	return []byte(dump.String())
}

// BenchmarkReadConfig reads dumps of 10,000 and 100,000 server blocks: ns/op grows tenfold, B/op
// stays the same (the reader's buffer, not the dump).
func BenchmarkReadConfig(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			dump := benchDump(b, n)
			b.SetBytes(int64(len(dump)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := ReadConfig(bytes.NewReader(dump), "")
				if err != nil || c.Workers != 2 {
					b.Fatalf("ReadConfig = %+v, %v", c, err)
				}
			}
		})
	}
}

func TestReadConfigSeesTLSAndTicketKeyFilesInAnyContext(t *testing.T) {
	for _, c := range []struct {
		dump      string
		tls, keys bool
	}{
		{"http {\n    server { listen 80; }\n}\n", false, false},
		{"http {\n    server {\n        listen 443 ssl;\n        ssl_certificate /c.pem; ssl_certificate_key /c.key;\n    }\n}\n", true, false},
		// nginx -T prints an included file after its own header: its server block is not main context.
		{"http { include /s.conf; }\n# configuration file /s.conf:\nserver { ssl_certificate \"/c.pem\";\n ssl_session_ticket_key /k1; }\n", true, true},
		{"stream { server { ssl_certificate /c.pem; } }\nhttp { ssl_session_ticket_key /k; }\n", true, true},
		// Names in comments, quoted arguments and longer names do not count.
		{"# ssl_certificate /c.pem;\nhttp { ssl_certificate_key /c.key; return 200 \"ssl_certificate\"; ssl_session_ticket_keys x; }\n", false, false},
	} {
		got, err := ReadConfig(strings.NewReader(c.dump), "")
		want, wantErr := referenceParseConfig(c.dump, "")
		if err != nil || wantErr != nil || got != want || got.TLS != c.tls || got.TicketKeyFiles != c.keys {
			t.Errorf("ReadConfig(%q) = %+v, %v; reference %+v, %v; want TLS %v, ticket key files %v", c.dump, got, err, want, wantErr, c.tls, c.keys)
		}
	}
}
