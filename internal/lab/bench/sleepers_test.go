//go:build e2e

package bench

import (
	"strconv"
	"strings"
	"testing"
)

// inGroup counts the processes of process group pgid, zombies too.
func inGroup(t *testing.T, pgid int) int {
	return countProcesses(t, "stat", func(stat string) bool {
		// Fields after the command's closing parenthesis: state, ppid, pgrp.
		f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
		g, _ := strconv.Atoi(f[2])
		return g == pgid
	})
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
