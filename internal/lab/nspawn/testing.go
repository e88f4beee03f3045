package nspawn

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BootTimeout bounds BootT's boot; a container from a warm golden tree boots
// in a few seconds.
const BootTimeout = 2 * time.Minute

// BootT boots a container for a test and closes it when the test ends. A
// missing golden tree fails the test with the command that builds it. When
// the test has failed, the container's journal tail goes to the test log.
func BootT(t testing.TB, opts Options) *Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	c, err := Boot(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, _, err := c.Exec(ctx, "journalctl", "--no-pager", "-o", "short-precise", "-n", "150")
			t.Logf("journal of container %s (err=%v):\n%s", c.Name(), err, out)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// DebsDir is where tests bind the cached nginx .debs in the container.
const DebsDir = "/debs"

// DebsBindT binds release's cached nginx .debs read-only at DebsDir.
func DebsBindT(t testing.TB, release Release) (Debs, Bind) {
	t.Helper()
	debs, err := release.CachedDebs()
	if err != nil {
		t.Fatal(err)
	}
	return debs, Bind{Host: debs.Dir, Container: DebsDir, ReadOnly: true}
}

// InstallNginxT installs one cached nginx version with dpkg, offline, which
// starts it through the container's systemd.
func InstallNginxT(ctx context.Context, t testing.TB, c *Container, version string) {
	t.Helper()
	dir := DebsDir + "/" + version
	out, err := c.Shell(ctx, fmt.Sprintf(`DEBIAN_FRONTEND=noninteractive dpkg -i '%s'/nginx-common_*.deb '%s'/nginx_*.deb`, dir, dir))
	if err != nil {
		t.Fatalf("install nginx %s: %v", version, err)
	}
	t.Logf("dpkg -i nginx %s:\n%s", version, tail(out, 5))
}
