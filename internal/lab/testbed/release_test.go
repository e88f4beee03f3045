package testbed

import (
	"testing"
	"time"
)

// apt's own lines say what a step changed and downloaded; a run with every package in the
// archive cache needs 0 B of it.
func TestUpgradeStepSummary(t *testing.T) {
	s := UpgradeStep{Name: "full-upgrade", Took: 95 * time.Second, Output: `Reading package lists...
Calculating upgrade...
The following packages will be upgraded:
  nginx nginx-common
112 upgraded, 45 newly installed, 3 to remove and 0 not upgraded.
Need to get 0 B/98.2 MB of archives.
After this operation, 120 MB of additional disk space will be used.
`}
	if got, want := s.Summary(), "112 upgraded, 45 newly installed, 3 to remove and 0 not upgraded. Need to get 0 B/98.2 MB of archives."; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if s.Upgraded() != 112 {
		t.Errorf("Upgraded() = %d, want 112", s.Upgraded())
	}
	if got := (UpgradeStep{Output: "Hit:1 http://deb.debian.org/debian trixie InRelease\n"}).Summary(); got != "" {
		t.Errorf("Summary() of apt-get update = %q, want none", got)
	}
}
