package upgrade

import (
	"strings"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/health"
)

// status prints each master's listeners, one line a network, UDP marked as listed only.
func TestStatusWritesListenersByNetwork(t *testing.T) {
	st := Status{State: Running, PidFile: "/run/nginx.pid", Masters: []MasterStatus{{
		Role: "current", Pid: 10, Listeners: []health.Listener{
			{Network: "tcp", Addr: "127.0.0.1:80"}, {Network: "tcp", Addr: "[::1]:443"},
			{Network: "udp", Addr: "127.0.0.1:5353"}, {Network: "unix", Addr: "/run/nginx.sock"},
		}}, {Role: "old", Pid: 9, ListenersError: "cannot read the process's network tables"},
	}}
	var b strings.Builder
	st.Write(&b)
	for _, want := range []string{
		"\nlisten:   tcp 127.0.0.1:80 [::1]:443\nlisten:   unix /run/nginx.sock\nlisten:   udp 127.0.0.1:5353 (listed, not dialled by the checks)\n",
		"\nlisten:   not known: cannot read the process's network tables\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, b.String())
		}
	}
}
