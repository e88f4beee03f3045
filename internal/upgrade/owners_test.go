package upgrade

import (
	"maps"
	"testing"
)

// `dpkg-query -S` output as Debian 12 prints it: one owner, several owners, and a diversion, which
// says nothing of ownership.
func TestParseDpkgSearch(t *testing.T) {
	out := []byte(`libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3
libc6:amd64, libc6-dev:amd64: /lib/x86_64-linux-gnu/libc.so.6
diversion by dash from: /bin/sh
diversion by dash to: /bin/sh.distrib
dash: /bin/sh
libnginx-mod-stream: /usr/lib/nginx/modules/ngx_stream_module.so
`)
	want := map[string]string{
		"/usr/lib/x86_64-linux-gnu/libssl.so.3":       "libssl3:amd64",
		"/lib/x86_64-linux-gnu/libc.so.6":             "libc6:amd64, libc6-dev:amd64",
		"/bin/sh":                                     "dash",
		"/usr/lib/nginx/modules/ngx_stream_module.so": "libnginx-mod-stream",
	}
	if got := parseDpkgSearch(out); !maps.Equal(got, want) {
		t.Errorf("owners\n got %v\nwant %v", got, want)
	}
}
