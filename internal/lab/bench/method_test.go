package bench

import (
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	for m, want := range map[Method]string{
		Ctl{Soak: 0}: "ctl-soak0s", Ctl{Soak: 10 * time.Second}: "ctl-soak10s",
		Manual{}: "manual-script", InitScript{}: "debian-initd", Restart{}: "restart",
		ReleaseUpgrade{}: "release-upgrade-12-13-stock", ReleaseUpgrade{Ours: true}: "release-upgrade-12-13-ours",
	} {
		if m.Name() != want {
			t.Errorf("name %q, want %q", m.Name(), want)
		}
	}
}
