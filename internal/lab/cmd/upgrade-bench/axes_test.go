package main

import (
	"strings"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

func TestPickPointsKeepsTheAxesOrderAndRefusesUnknownNames(t *testing.T) {
	var all []axisPoint
	for _, n := range []string{"workers=1", "idle=10000", "idle=50000", "sleepers=30000"} {
		all = append(all, axisPoint{point: report.Point{Axis: "growth", Name: n}})
	}
	got, err := pickPoints(all, "sleepers=30000, idle=10000")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.point.Name)
	}
	if strings.Join(names, " ") != "idle=10000 sleepers=30000" {
		t.Errorf("picked %q, want idle=10000 then sleepers=30000", names)
	}
	if _, err := pickPoints(all, "idle=10000,idle=99"); err == nil || !strings.Contains(err.Error(), "idle=99") {
		t.Errorf("an unknown point: err %v, want one naming idle=99", err)
	}
}
