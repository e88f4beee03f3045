//go:build e2e

package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// prefixProcesses counts the processes whose command line names dir, nginx's prefix.
func prefixProcesses(t *testing.T, dir string) int {
	return countProcesses(t, "cmdline", func(cmdline string) bool { return strings.Contains(cmdline, dir) })
}

// The floor's cold starts stop each nginx they start, master and workers, by its pid file alone.
func TestColdStartsStopEachStart(t *testing.T) {
	n, err := testbed.Setup(t.TempDir(), testbed.BuildsT(t).New, testbed.Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	times, err := coldStarts(ctx, n, 2, 2)
	if err != nil || len(times) != 2 || times[0] <= 0 || times[1] <= 0 {
		t.Fatalf("coldStarts = %v, %v; want two times", times, err)
	}
	if left := prefixProcesses(t, n.Dir); left != 0 {
		t.Fatalf("%d processes of %s left after the cold starts, want none", left, n.Dir)
	}
}
