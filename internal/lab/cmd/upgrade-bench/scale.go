package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

// runScale runs the flag-gated rows: our helper with 1, 4 and 16 workers; idle keep-alive
// connections held across a swap; many swaps in a row; the /proc benchmark.
func runScale(ctx context.Context, bed bench.Bed, ctl bench.Ctl, o options, charts map[string][]byte) (*report.Scale, error) {
	s := &report.Scale{}
	soak0, soak10 := ctl, ctl
	soak0.Soak, soak10.Soak = 0, 10*time.Second
	for _, w := range []int{1, 4, 16} {
		var specs []bench.Spec
		for r := 1; r <= o.reps; r++ {
			specs = append(specs, bench.Spec{Method: soak0, Rep: r, Workers: w})
		}
		rows, runs, err := runRows(ctx, bed, specs, charts, fmt.Sprintf("-w%d", w))
		if err != nil {
			return nil, err
		}
		s.WorkerRows = append(s.WorkerRows, rows...)
		s.Runs = append(s.Runs, runs...)
	}

	if o.idle > 0 {
		fmt.Fprintf(os.Stderr, "idle: %d keep-alive connections across a swap\n", o.idle)
		spec := bench.Spec{Method: soak10, Rep: 1, Workers: bench.IdleWorkers(o.idle, bed.Nofile, 2), Idle: o.idle}
		rows, runs, err := runRows(ctx, bed, []bench.Spec{spec}, charts, "-idle")
		if err != nil {
			return nil, err
		}
		rows[0].Method += fmt.Sprintf("+idle%d", o.idle)
		s.Runs = append(s.Runs, runs...)
		s.IdleRow, s.Idle, s.IdleMarks = &rows[0], runs[0].Idle, runs[0].Marks
	}

	if o.swaps > 0 {
		fmt.Fprintf(os.Stderr, "churn: %d swaps in a row\n", o.swaps)
		c, err := bench.Churn(ctx, bed, ctl, o.swaps, 2)
		if err != nil {
			return nil, err
		}
		s.Churn = &c
	}

	fmt.Fprintln(os.Stderr, "go benchmark: BenchmarkWorkersWithManyProcesses")
	out, err := goBench(ctx)
	if err != nil {
		return nil, err
	}
	s.WorkersBench = out
	return s, nil
}

// goBench runs the /proc benchmark with the go command on PATH (make bench puts its own first).
func goBench(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// The benchmark needs root and real nginx builds: it builds only with the e2e tag.
	cmd := exec.CommandContext(ctx, "go", "test", "-tags", "e2e", "-run", "^$", "-bench", "BenchmarkWorkersWithManyProcesses", "-benchtime", "200x", "-count", "1", "./internal/lab/bench/")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go benchmark: %w: %s", err, out.String())
	}
	return out.String(), nil
}
