package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

func TestCtlMarks(t *testing.T) {
	var rep ctlReport
	for _, s := range []struct {
		step, result string
		ms           int64
	}{{"preflight", "ok", 20}, {"usr2", "sent", 21}, {"winch", "sent", 1100}, {"winch", "ok", 1120}, {"quit", "sent", 1130}} {
		rep.Steps = append(rep.Steps, ctlStep{Step: s.step, Result: s.result, ElapsedMS: s.ms})
	}
	marks := ctlMarks(rep, 3*time.Second)
	want := []report.Mark{{Label: "USR2", At: 3021 * time.Millisecond}, {Label: "WINCH", At: 4100 * time.Millisecond}, {Label: "QUIT", At: 4130 * time.Millisecond}}
	if len(marks) != len(want) {
		t.Fatalf("marks = %v", marks)
	}
	for i := range want {
		if marks[i] != want[i] {
			t.Errorf("mark %d = %v, want %v", i, marks[i], want[i])
		}
	}
}

func TestCtlStepsCountFromTheRunsStart(t *testing.T) {
	exec := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	if got := (ctlReport{}).since(exec); !got.Equal(exec) {
		t.Errorf("without a start in the report: %v, want the exec at %v", got, exec)
	}
	started := exec.Add(17 * time.Millisecond)
	if got := (ctlReport{Started: started}).since(exec); !got.Equal(started) {
		t.Errorf("with a start in the report: %v, want it, %v", got, started)
	}
}

func TestCtlPreflight(t *testing.T) {
	rep := ctlReport{Steps: []ctlStep{
		{Step: "find_master", Result: "ok", ElapsedMS: 2},
		{Step: "preflight", Result: "ok", Message: "nginx -T took 4.812s: start and settle deadline 14.436s (3 × the test, above the 15s floor)", ElapsedMS: 4830},
		{Step: "preflight", Result: "note", Message: "TLS session tickets ... (no ssl_session_ticket_key)", ElapsedMS: 4830},
		{Step: "preflight", Result: "ok", Message: "memory for a second generation: ...", ElapsedMS: 4836},
		{Step: "usr2", Result: "sent", ElapsedMS: 4840},
	}}
	p := ctlPreflight(rep)
	if p.EndMS != 4836 || p.TestMS != 4812 || !strings.Contains(p.Note, "ssl_session_ticket_key") || len(p.Steps) != 5 || p.Steps[4] != "4840 ms usr2 sent" {
		t.Fatalf("ctlPreflight = %+v; want end 4836 ms, -T 4812 ms, the note", p)
	}
	if p := ctlPreflight(ctlReport{Steps: []ctlStep{{Step: "preflight", Result: "ok", Message: "nginx -T took 850ms: …", ElapsedMS: 900}}}); p.TestMS != 850 || p.Note != "" {
		t.Fatalf("ctlPreflight = %+v; want -T 850 ms and no note", p)
	}
}
