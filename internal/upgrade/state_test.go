package upgrade

import (
	"fmt"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

func master(pid, ppid int) *nginx.Master {
	return &nginx.Master{Proc: nginx.Proc{Pid: pid, PPid: ppid}}
}

var (
	errAbsent = fmt.Errorf("x: %w", nginx.ErrNoPidFile)
	errDead   = fmt.Errorf("pid 9: %w", nginx.ErrNoProcess)
)

// Every state status can report, named from pid files and processes alone.
func TestNameStateFromPidFilesAndProcesses(t *testing.T) {
	cases := []struct {
		name string
		s    Snapshot
		want State
	}{
		{"one master", Snapshot{Current: master(10, 1), OldbinErr: errAbsent}, Running},
		{"no pid file", Snapshot{CurrentErr: errAbsent, OldbinErr: errAbsent}, Stopped},
		{"stale pid file", Snapshot{CurrentErr: errDead, OldbinErr: errAbsent}, Stopped},
		{"USR2 sent, not yet acted on", Snapshot{Current: master(10, 1), OldbinErr: errAbsent, USR2Pending: true}, NewMasterStarting},
		{"USR2 sent, new master not written its pid yet", Snapshot{CurrentErr: errAbsent, Old: master(10, 1), OldServing: 2}, NewMasterStarting},
		{"both masters serving", Snapshot{Current: master(20, 10), Old: master(10, 1), OldServing: 2}, BothServing},
		{"old master drained by WINCH", Snapshot{Current: master(20, 10), Old: master(10, 1), OldServing: 0}, OldDrained},
		{"old master got QUIT, still draining", Snapshot{Current: master(20, 10), Old: master(10, 1), OldQuitting: true}, OldDraining},
		{"old master killed, .oldbin left", Snapshot{Current: master(20, 1), OldbinErr: errDead}, StaleOldbin},
		{"both gone", Snapshot{CurrentErr: errDead, OldbinErr: errDead}, Stopped},
		{"new master is not the old one's child", Snapshot{Current: master(20, 1), Old: master(10, 1), OldServing: 2}, Inconsistent},
	}
	for _, c := range cases {
		if got := nameState(c.s); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestOnlyStoppedRunningAndOldDrainingAreSteady(t *testing.T) {
	for _, s := range []State{Stopped, Running, OldDraining} {
		if s.HalfDone() {
			t.Errorf("%s is half-done", s)
		}
	}
	for _, s := range []State{NewMasterStarting, BothServing, OldDrained, StaleOldbin, Inconsistent} {
		if !s.HalfDone() {
			t.Errorf("%s is not half-done", s)
		}
	}
}
