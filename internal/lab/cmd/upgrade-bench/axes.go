package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

// The axes -axis picks from; `make bench` runs defaultAxes.
var (
	allAxes     = []string{"methods", "config", "tls", "growth", "scale"}
	defaultAxes = []string{"methods", "config", "tls", "growth"}
)

// parseAxes reads -axis (comma-separated), with -scale and -scale-only as they were.
func parseAxes(o options) ([]string, error) {
	axes := defaultAxes
	if o.axis != "" {
		axes = nil
		for a := range strings.SplitSeq(o.axis, ",") {
			a = strings.TrimSpace(a)
			if !slices.Contains(allAxes, a) {
				return nil, fmt.Errorf("-axis %q: not one of %s", a, strings.Join(allAxes, ", "))
			}
			axes = append(axes, a)
		}
	}
	switch {
	case o.only:
		axes = []string{"scale"}
	case o.scale && !slices.Contains(axes, "scale"):
		axes = append(slices.Clone(axes), "scale")
	}
	return axes, nil
}

// axisLoad is the load of the axes' runs: shortLoad, with one cold start for the floor.
func axisLoad(bed bench.Bed, extra time.Duration) bench.Bed {
	bed = shortLoad(bed, extra)
	bed.FloorTries = 1
	return bed
}

// shortLoad is the default load, shorter: 14 s, with 10 MiB downloads at the site's 1 MiB/s, for a
// swap that ends seconds after it starts; longer by extra for one that takes longer (a
// configuration nginx takes seconds to test and start, a soak), so that the downloads still span
// the swap and the old workers drain them.
func shortLoad(bed bench.Bed, extra time.Duration) bench.Bed {
	bed.Load.WrkDuration = 14*time.Second + extra
	bed.Load.DownloadSize = (10 << 20) + int64(extra.Seconds())<<20
	return bed
}

// methodBed is the load of a method row's runs. The host methods swap within a second of the
// swap's start (the helper's soak aside): the short load. The package methods keep the default:
// there a restart can come 10 s after the swap starts (needrestart after a library update).
func methodBed(bed bench.Bed, m bench.Method) bench.Bed {
	if _, inBox := m.(bench.BoxMethod); inBox {
		return bed
	}
	if c, ok := m.(bench.Ctl); ok {
		return shortLoad(bed, c.Soak)
	}
	return shortLoad(bed, 0)
}

// axisPoint is one point of an axis and how often to run it.
type axisPoint struct {
	point   report.Point
	methods []bench.Method
	reps    int
	workers int
	tls     *bench.TLSPoint
	bed     bench.Bed
}

// runAxes runs the axes' points; each point's runs take turns as the methods' do.
func runAxes(ctx context.Context, bed bench.Bed, ctl bench.Ctl, o options, axes []string) (*report.Axes, error) {
	soak0 := ctl
	soak0.Soak = 0
	short := axisLoad(bed, 0)
	var points []axisPoint
	if slices.Contains(axes, "config") {
		for _, c := range []struct{ servers, certs int }{{100, 0}, {5000, 0}, {20000, 1000}} {
			name := fmt.Sprintf("servers=%d", c.servers)
			if c.certs > 0 {
				name += fmt.Sprintf("+certs=%d", c.certs)
			}
			points = append(points, axisPoint{point: report.Point{Axis: "config", Name: name, Servers: c.servers, Certs: c.certs},
				methods: []bench.Method{soak0}, reps: o.reps, workers: 2, bed: axisLoad(bed, time.Duration(c.servers/1000)*time.Second)})
		}
	}
	if slices.Contains(axes, "tls") {
		for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			for _, keys := range []bool{true, false} {
				t := bench.TLSPoint{Version: v, TicketKeys: keys}
				methods := []bench.Method{soak0}
				if v == tls.VersionTLS13 {
					methods = append(methods, bench.Restart{})
				}
				points = append(points, axisPoint{point: report.Point{Axis: "tls", Name: t.Name(), TLS: tls.VersionName(v), KeyFile: keys},
					methods: methods, reps: o.reps, workers: 2, tls: &t, bed: short})
			}
		}
		// Session IDs live in one master's ssl_session_cache: the swap is compared with a restart.
		t := bench.TLSPoint{Version: tls.VersionTLS12, SessionIDs: true}
		points = append(points, axisPoint{point: report.Point{Axis: "tls", Name: t.Name(), TLS: tls.VersionName(t.Version)},
			methods: []bench.Method{soak0, bench.Restart{}}, reps: o.reps, workers: 2, tls: &t, bed: short})
	}
	if slices.Contains(axes, "growth") {
		for _, w := range []int{1, 4, 16, 64} {
			points = append(points, axisPoint{point: report.Point{Axis: "growth", Name: fmt.Sprintf("workers=%d", w)},
				methods: []bench.Method{soak0}, reps: o.reps, workers: w, bed: short})
		}
		// Each nginx worker holds a descriptor per connection it serves, up to RLIMIT_NOFILE:
		// beyond what one worker holds, more workers share the connections (see IdleWorkers).
		for _, n := range []int{10000, 50000} {
			points = append(points, axisPoint{point: report.Point{Axis: "growth", Name: fmt.Sprintf("idle=%d", n), Idle: n},
				methods: []bench.Method{soak0}, reps: o.reps, workers: bench.IdleWorkers(n, bed.Nofile, 2), bed: short})
		}
		for _, n := range []int{3000, 30000} {
			points = append(points, axisPoint{point: report.Point{Axis: "growth", Name: fmt.Sprintf("sleepers=%d", n), Sleepers: n},
				methods: []bench.Method{soak0}, reps: o.reps, workers: 2, bed: short})
		}
	}

	if o.points != "" {
		var err error
		if points, err = pickPoints(points, o.points); err != nil {
			return nil, err
		}
	}
	a := &report.Axes{}
	for i, p := range points {
		byMethod := map[string][]report.Run{}
		for r := 1; r <= p.reps; r++ {
			for _, m := range p.methods {
				pt := p.point
				spec := bench.Spec{Method: m, Rep: r, Workers: p.workers, Idle: pt.Idle, Point: &pt, TLS: p.tls}
				run, err := bench.RunOnce(ctx, p.bed, spec)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err != nil {
					// A point that could not be set up is reported; the other points still run.
					e := fmt.Sprintf("%s %s run %d: %v", pt.Name, m.Name(), r, err)
					fmt.Fprintln(os.Stderr, "[axis] "+e)
					a.Errors = append(a.Errors, e)
					continue
				}
				logAxisRun(i+1, len(points), pt, run)
				byMethod[m.Name()] = append(byMethod[m.Name()], run)
				a.Runs = append(a.Runs, run)
			}
		}
		for _, m := range p.methods {
			runs := byMethod[m.Name()]
			if len(runs) == 0 {
				continue
			}
			row := report.AggregateAxis(report.Aggregate(m.Name()+"+"+p.point.Name, m.Describe(), bench.Ours(m), runs), p.point, runs)
			switch p.point.Axis {
			case "config":
				a.Config = append(a.Config, row)
			case "tls":
				a.TLS = append(a.TLS, row)
			default:
				a.Growth = append(a.Growth, row)
			}
		}
	}
	return a, nil
}

func logAxisRun(i, n int, p report.Point, r report.Run) {
	x := r.Axis
	line := fmt.Sprintf("[axis %d/%d] %-24s %-12s run %d: took=%v failed %d+%d, cut %d; p99 %.1f→%.1f ms; nginx -t %.0f ms, helper -T %.0f ms, preflight %.0f ms, USR2→serving %.0f ms, overhead %.0f ms; helper wall %.0f ms, CPU %.0f (own %.0f) ms, RSS %.1f MiB%s",
		i, n, p.Name, r.Method, r.Rep, r.Took, r.StreamFailed, r.WrkFailed, r.DownloadsCut, r.Steady.P99MS, r.Swap.P99MS,
		x.NginxTestMS, x.HelperTestMS, x.PreflightMS, r.USR2ToServingMS, x.OverheadMS, x.WallMS, r.HelperCPUMS, x.OwnCPUMS, float64(r.HelperRSSKiB)/1024, errSuffix(r.Error))
	if t := x.TLS; t != nil {
		line += fmt.Sprintf("; TLS %d/%d failed, resumed %.0f/%.0f/%.0f %%, full/s %.0f→%.0f, nginx CPU %.0f→%.0f %%, TLS p99 ×%.2f",
			t.Failed, t.Sent, t.ResumedBeforePct, t.ResumedDuringPct, t.ResumedAfterPct, t.FullPerSSteady, t.FullPerSPeak, t.NginxCPUSteady, t.NginxCPUSwap, t.P99Ratio)
	}
	if r.Idle != nil {
		i := r.Idle
		line += fmt.Sprintf("; idle %d opened by %d holders in %.0f ms, worker fds %v, %d still open", i.Opened, i.Holders, i.OpenMS, i.WorkerFDs, i.StillOpen)
	}
	if x.Note != "" {
		line += "; note: " + x.Note
	}
	fmt.Fprintln(os.Stderr, line)
}

// pickPoints keeps the points -points names, in their axes' order; a name no point has is an error.
func pickPoints(all []axisPoint, names string) ([]axisPoint, error) {
	want := map[string]bool{}
	for n := range strings.SplitSeq(names, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []axisPoint
	var have []string
	for _, p := range all {
		have = append(have, p.point.Name)
		if want[p.point.Name] {
			out = append(out, p)
			delete(want, p.point.Name)
		}
	}
	if len(want) > 0 {
		missing := slices.Sorted(maps.Keys(want))
		return nil, fmt.Errorf("-points: no point %s in the axes run (%s)", strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	return out, nil
}
