package bigconf

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestWriteHasTheBlocksAskedFor(t *testing.T) {
	var b strings.Builder
	o := Options{Servers: 7, Listen: "127.0.0.1:8080", RegexLocations: 3, Maps: 2, MapEntries: 5, Certs: 2, TLSListen: "127.0.0.1:8443", CertDir: "/c"}
	if err := Write(&b, o); err != nil {
		t.Fatal(err)
	}
	conf := b.String()
	for what, want := range map[string]int{"server {": 7, "location ~ ": 21, "map $uri": 2, "\"~^/m": 10, " ssl;": 2, "ssl_certificate /c/1.pem;": 1} {
		if got := strings.Count(conf, what); got != want {
			t.Errorf("%d × %q, want %d", got, what, want)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}
}

func TestWriteCertsGivesPairsTLSLoads(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCerts(dir, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := tls.LoadX509KeyPair(certPath(dir, i, "pem"), certPath(dir, i, "key")); err != nil {
			t.Errorf("certificate %d: %v", i, err)
		}
	}
}
