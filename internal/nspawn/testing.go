package nspawn

import (
	"context"
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
