//go:build e2e

package bench

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// inGroup counts the processes of process group pgid, zombies too.
func inGroup(t *testing.T, pgid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// Fields after the command's closing parenthesis: state, ppid, pgrp.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			n++
		}
	}
	return n
}

func TestSleepersStartAllAndStopReapsThem(t *testing.T) {
	s, err := StartSleepers(t.Context(), 41)
	if err != nil {
		t.Fatal(err)
	}
	pgid := s.cmd.Process.Pid
	if n := inGroup(t, pgid); n != 41+1 {
		s.Stop()
		t.Fatalf("%d processes in the sleepers' group; want 41 and the program that cloned them", n)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := inGroup(t, pgid); n != 0 {
		t.Fatalf("%d processes left in the sleepers' group after Stop", n)
	}
}
