package bench

import (
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
		rep.Steps = append(rep.Steps, struct {
			Step      string `json:"step"`
			Result    string `json:"result"`
			ElapsedMS int64  `json:"elapsed_ms"`
		}{s.step, s.result, s.ms})
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
