package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
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

func TestHostMethodsRunUnderTheShortLoadAndPackageMethodsUnderTheDefault(t *testing.T) {
	bed := bench.DefaultBed(testbed.Builds{}, t.TempDir())
	if got := methodBed(bed, bench.DebianPackage{}).Load; got != bed.Load {
		t.Errorf("package method: load %+v, want the default %+v: a restart can come 10 s after the swap starts", got, bed.Load)
	}
	short := methodBed(bed, bench.Restart{}).Load
	if short.WrkDuration >= bed.Load.WrkDuration || short.DownloadSize >= bed.Load.DownloadSize {
		t.Errorf("host method: load %v with %d-byte downloads, want shorter than the default %v, %d bytes",
			short.WrkDuration, short.DownloadSize, bed.Load.WrkDuration, bed.Load.DownloadSize)
	}
	soaked := methodBed(bed, bench.Ctl{Soak: 3 * time.Second}).Load
	if soaked.WrkDuration != short.WrkDuration+3*time.Second || soaked.DownloadSize != short.DownloadSize+3<<20 {
		t.Errorf("helper with a 3 s soak: load %v with %d-byte downloads, want the short one longer by 3 s and 3 MiB",
			soaked.WrkDuration, soaked.DownloadSize)
	}
}
