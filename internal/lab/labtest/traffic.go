package labtest

import (
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// NoLoss stops the traffic and asserts nothing failed, and that there was traffic to fail.
func NoLoss(t testing.TB, tr *testbed.Traffic) testbed.TrafficResult {
	t.Helper()
	r := tr.Stop()
	NoneFailed(t, r)
	return r
}

// NoneFailed asserts that nothing of traffic that stopped failed, and that there was traffic to
// fail.
func NoneFailed(t testing.TB, r testbed.TrafficResult) {
	t.Helper()
	t.Logf("traffic:\n%s", r)
	if r.Failed() != 0 {
		t.Errorf("%d requests or downloads failed, want 0", r.Failed())
	}
	if r.Stream.OK == 0 || (r.WrkRan && r.Wrk.Requests == 0) {
		t.Errorf("no traffic measured (stream ok %d, wrk %d): the assertion above proves nothing", r.Stream.OK, r.Wrk.Requests)
	}
}
