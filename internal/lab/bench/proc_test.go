//go:build e2e

package bench

import (
	"os"
	"strconv"
	"testing"
)

// countProcesses counts the processes, zombies too, whose /proc/PID/<file> matches.
func countProcesses(t *testing.T, file string, match func(content string) bool) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/" + file)
		if err != nil {
			continue // gone meanwhile
		}
		if match(string(b)) {
			n++
		}
	}
	return n
}
