package nginx

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimeReadsNginxTimeValues(t *testing.T) {
	good := map[string]time.Duration{
		"30s": 30 * time.Second, "10": 10 * time.Second, "1m30": 90 * time.Second, "500ms": 500 * time.Millisecond,
		"1m30s": 90 * time.Second, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "5m": 5 * time.Minute,
	}
	for v, want := range good {
		if got, err := ParseTime(v); err != nil || got != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "s", "10x", "-1s", "1.5s", "ten"} {
		if got, err := ParseTime(v); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", v, got)
		}
	}
}

func TestReadConfigReadsWorkerShutdownTimeout(t *testing.T) {
	c, err := ReadConfig(strings.NewReader("# configuration file /etc/nginx/nginx.conf:\nworker_shutdown_timeout 30s;\nhttp { }\n"), "")
	if err != nil || c.ShutdownTimeout != 30*time.Second {
		t.Fatalf("got %v, %v; want 30s", c.ShutdownTimeout, err)
	}
	c, err = ReadConfig(strings.NewReader("# configuration file /etc/nginx/nginx.conf:\nevents { }\n"), "")
	if err != nil || c.ShutdownTimeout != 0 {
		t.Fatalf("unset: got %v, %v; want 0", c.ShutdownTimeout, err)
	}
}
