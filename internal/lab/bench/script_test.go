package bench

import (
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

func TestParseMarks(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	clock := func(t time.Time) time.Duration { return t.Sub(t0) }
	marks, err := ParseMarks([]byte("USR2 1700000001000000000\nWINCH 1700000002500000000\n\n"), clock)
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != 2 || marks[0] != (report.Mark{Label: "USR2", At: time.Second}) || marks[1] != (report.Mark{Label: "WINCH", At: 2500 * time.Millisecond}) {
		t.Errorf("marks = %v", marks)
	}
	for _, bad := range []string{"USR2", "USR2 soon", "USR2 1 2"} {
		if _, err := ParseMarks([]byte(bad), clock); err == nil {
			t.Errorf("ParseMarks(%q) accepted", bad)
		}
	}
}
