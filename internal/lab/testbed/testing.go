package testbed

import (
	"context"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
)

// BuildsT loads the two Debian builds that run on this machine (nspawn.HostRelease's) or fails
// the test saying how to get them. It never skips: a test that did not run must not pass.
func BuildsT(t testing.TB) Builds {
	t.Helper()
	return ReleaseBuildsT(t, nspawn.HostRelease)
}

// ReleaseBuildsT is BuildsT for the builds of release, which run in its boxes.
func ReleaseBuildsT(t testing.TB, release nspawn.Release) Builds {
	t.Helper()
	b, err := LoadBuilds(release)
	if err != nil {
		t.Fatalf("%s nginx builds: %v", release.Name(), err)
	}
	return b
}

// StartT sets up and starts an nginx on build in a temp prefix; it is stopped when the test ends,
// and its error log is printed if the test failed.
func StartT(t testing.TB, build string, cfg Config) *Nginx {
	t.Helper()
	n, err := Setup(t.TempDir(), build, cfg)
	if err != nil {
		t.Fatalf("set up nginx: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx error log (%s):\n%s", n.Dir, n.ErrorLog())
		}
		n.Stop()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return n
}

// TrafficT starts traffic against site, failing the test if it cannot.
func TrafficT(t testing.TB, site Site, cfg TrafficConfig) *Traffic {
	t.Helper()
	tr, err := StartTraffic(context.Background(), site, cfg)
	if err != nil {
		t.Fatalf("start traffic: %v", err)
	}
	return tr
}
