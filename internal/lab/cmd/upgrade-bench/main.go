// Command upgrade-bench compares ways of swapping a live nginx's binary under the same load
// (`make bench`): nginx-upgradectl with and without its soak, the manual sequence from nginx's
// docs, Debian's init-script `upgrade` action, a restart, and Debian's package upgrade under
// systemd (in a container) with and without the nginx-upgrade package (-deb), a libssl3 update,
// and the Debian 12 → 13 release upgrade (once per bench: it takes minutes). It prints a table
// and writes results.json, results.md and one timeline SVG per method to -out. The scale axes
// (configuration size, TLS session resumption, growth with workers, connections and processes)
// follow; -axis runs some of them alone, -scale adds the older scale rows.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

type options struct {
	ctl     string
	deb     string
	out     string
	reps    int
	scale   bool
	swaps   int
	idle    int
	methods string
	axis    string
	points  string
	quiet   float64
	quietW  time.Duration
	only    bool
	render  bool
}

// holderArg, as the first argument, makes the bench an idle holder (bench.HoldIdle): the bench
// runs itself so, one process per share of idle connections.
const holderArg = "idle-holder"

func main() {
	if len(os.Args) > 1 && os.Args[1] == holderArg {
		if err := bench.HoldIdle(context.Background(), os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "upgrade-bench:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.ctl, "ctl", "bin/nginx-upgradectl", "the nginx-upgradectl binary to measure")
	flag.StringVar(&o.deb, "deb", "", "the nginx-upgrade .deb (make package) for the debian-package-ours, libssl3-update-ours and release-upgrade-12-13-ours rows")
	flag.StringVar(&o.out, "out", "docs/bench", "where results.json, results.md and the SVGs go")
	flag.IntVar(&o.reps, "n", 3, "runs per method; the table reports medians")
	flag.BoolVar(&o.scale, "scale", false, "also run the scale rows: 1/4/16 workers, idle connections, many swaps, the /proc benchmark")
	flag.BoolVar(&o.only, "scale-only", false, "run only the scale rows (implies -scale; use another -out)")
	flag.BoolVar(&o.render, "render", false, "only write -out/results.md again from -out/results.json")
	flag.IntVar(&o.swaps, "swaps", 100, "swaps in a row for the -scale churn row")
	flag.IntVar(&o.idle, "idle", 10000, "idle keep-alive connections for the -scale idle row")
	flag.StringVar(&o.methods, "methods", "", "comma-separated method names to run (default: all)")
	flag.StringVar(&o.axis, "axis", "", "comma-separated axes to run: "+strings.Join(allAxes, ", ")+" (default: "+strings.Join(defaultAxes, ",")+")")
	flag.StringVar(&o.points, "points", "", "comma-separated axis points to run, by name (idle=50000,sleepers=30000; default: every point of the axes)")
	flag.Float64Var(&o.quiet, "quiet", 25, "before each run, wait for the machine to be at most this % busy (100: never wait)")
	flag.DurationVar(&o.quietW, "quiet-wait", 30*time.Second, "the longest a run waits for -quiet")
	flag.Parse()
	if o.reps < 1 || o.reps > 20 {
		fmt.Fprintln(os.Stderr, "upgrade-bench: -n must be 1..20")
		os.Exit(2)
	}
	// Interrupting the bench cancels the runs; deferred clean-ups stop every nginx it started.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Minute)
	defer cancel()
	do := run
	if o.render {
		do = render
	}
	if err := do(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "upgrade-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	started := time.Now()
	ctl, err := filepath.Abs(o.ctl)
	if err != nil {
		return err
	}
	if _, err := os.Stat(ctl); err != nil {
		return fmt.Errorf("-ctl: %w (build it: go build -o bin/nginx-upgradectl ./cmd/nginx-upgradectl)", err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	// Idle connections and the load each hold a descriptor, in nginx and in the idle holders.
	nofile, err := bench.RaiseNofile(1 << 16)
	if err != nil {
		return err
	}
	axes, err := parseAxes(o)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("idle holders run the bench itself: %w", err)
	}
	builds, err := testbed.LoadBuilds(nspawn.HostRelease)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "upgrade-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bed := bench.DefaultBed(builds, tmp)
	bed.Nofile, bed.IdleHolder = nofile, []string{self, holderArg}
	bed.QuietBelow, bed.QuietWait = o.quiet, o.quietW
	initScript, err := bench.ExtractInitScript(builds.NewDebs, tmp)
	if err != nil {
		return err
	}
	var audit string
	if bench.CtlHasAuditLog(ctx, ctl) {
		audit = filepath.Join(tmp, "audit.jsonl")
	}
	methods := selectMethods([]bench.Method{
		bench.Ctl{Path: ctl, Soak: 0, AuditLog: audit},
		bench.Ctl{Path: ctl, Soak: 10 * time.Second, AuditLog: audit},
		bench.Manual{},
		bench.InitScript{Script: initScript},
		bench.Restart{},
		bench.DebianPackage{},
		bench.DebianPackage{Ours: true, Deb: o.deb},
		bench.LibraryUpdate{},
		bench.LibraryUpdate{Needrestart: true},
		bench.LibraryUpdate{Ours: true, Deb: o.deb},
		bench.ReleaseUpgrade{},
		bench.ReleaseUpgrade{Ours: true, Deb: o.deb},
	}, o.methods)
	if !slices.Contains(axes, "methods") {
		methods = nil
	}
	if err := checkDeb(methods, o.deb); err != nil {
		return err
	}

	rep := &report.Report{Command: command(), Revision: revision(ctx), Ctl: describeCtl(o.ctl, ctl),
		Started: started, Machine: bench.ReadMachine(ctx, builds), Settings: bench.SettingsOf(bed, o.reps, testbed.SlowRate)}
	// The shorter load is the host methods' and the axes'; a run of package methods alone has none.
	onHost := slices.ContainsFunc(methods, func(m bench.Method) bool { _, inBox := m.(bench.BoxMethod); return !inBox })
	onAxes := slices.ContainsFunc(axes, func(a string) bool { return a == "config" || a == "tls" || a == "growth" })
	if onHost || onAxes {
		short := shortLoad(bed, 0).Load
		rep.Settings.ShortLoadMS, rep.Settings.ShortDownloadBytes = report.Millis(short.WrkDuration), short.DownloadSize
	}
	m := rep.Machine
	fmt.Printf("machine: %d CPUs (%s), kernel %s, %s; nginx old %s, new %s\n", m.Nproc, m.CPU, m.Kernel, m.OS, m.NginxOld, m.NginxNew)
	fmt.Printf("reproduce: %s\n\n", rep.Command)

	// Methods take turns within each repetition, so that a noisy minute on this shared machine
	// falls on every method rather than on one.
	specs := make([]bench.Spec, 0, len(methods)*o.reps)
	for r := 1; r <= o.reps && slices.Contains(axes, "methods"); r++ {
		for _, meth := range methods {
			if _, once := meth.(bench.Lengthy); once && r > 1 {
				continue
			}
			specs = append(specs, bench.Spec{Method: meth, Rep: r, Workers: 2})
		}
	}
	charts := map[string][]byte{}
	rows, runs, err := runRows(ctx, bed, specs, charts, "")
	if err != nil {
		return err
	}
	rep.Rows, rep.Runs = rows, runs
	if onAxes {
		if rep.Axes, err = runAxes(ctx, bed, bench.Ctl{Path: ctl, AuditLog: audit}, o, axes); err != nil {
			return err
		}
		if len(rep.Axes.Config) > 0 {
			charts["axis-config.svg"] = report.ConfigSVG(rep.Axes.Config)
		}
		if len(rep.Axes.TLS) > 0 {
			charts["axis-tls.svg"] = report.TLSSVG(rep.Axes.TLS)
		}
	}
	if slices.Contains(axes, "scale") {
		if rep.Scale, err = runScale(ctx, bed, bench.Ctl{Path: ctl, AuditLog: audit}, o, charts); err != nil {
			return err
		}
	}
	rep.Goals = append(report.Goals(goalRows(rep)), report.AxisGoals(rep.Axes)...)
	rep.DurationS = time.Since(started).Seconds()

	fmt.Printf("\n%s\n", report.Table(rep.Rows))
	for _, g := range rep.Goals {
		fmt.Printf("goal %-42s %-24s met=%-5v %s\n", g.Goal, g.Row, g.Met, g.Value)
	}
	for name, svg := range charts {
		if err := os.WriteFile(filepath.Join(o.out, name), svg, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := rep.WriteJSON(o.out); err != nil {
		return err
	}
	if err := rep.WriteMarkdown(o.out); err != nil {
		return err
	}
	fmt.Printf("\nwritten to %s in %s\n", o.out, time.Since(started).Round(time.Second))
	return nil
}

// render writes results.md again from results.json, with the goals checked again: the report's
// wording can change without running the bench again (the timelines need a run).
func render(_ context.Context, o options) error {
	rep, err := report.ReadReport(o.out)
	if err != nil {
		return err
	}
	rep.Goals = append(report.Goals(goalRows(rep)), report.AxisGoals(rep.Axes)...)
	return rep.WriteMarkdown(o.out)
}

// runRows runs specs, groups them by method (in first-seen order) into rows, and draws each
// row's representative run as timeline-<method><suffix>.svg into charts (written with the
// results, so that an interrupted bench leaves the last results whole).
func runRows(ctx context.Context, bed bench.Bed, specs []bench.Spec, charts map[string][]byte, suffix string) ([]report.Row, []report.Run, error) {
	var order []bench.Method
	byName := map[string][]report.Run{}
	var all []report.Run
	for i, s := range specs {
		r, err := bench.RunOnce(ctx, methodBed(bed, s.Method), s)
		if err != nil {
			return nil, nil, fmt.Errorf("%s run %d: %w", s.Method.Name(), s.Rep, err)
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %-14s w=%-2d run %d: took=%v stream %d/%d failed, wrk %d/%d failed, %d cut; p99 %.1f→%.1f ms; new serving %.0f ms (floor %.1f); old gone %.0f ms%s\n",
			i+1, len(specs), r.Method, r.Workers, r.Rep, r.Took, r.StreamFailed, r.StreamSent, r.WrkFailed, r.WrkRequests, r.DownloadsCut,
			r.Steady.P99MS, r.Swap.P99MS, r.NewServingMS, r.FloorMS, r.OldGoneMS, errSuffix(r.Error))
		if _, ok := byName[r.Method]; !ok {
			order = append(order, s.Method)
		}
		byName[r.Method] = append(byName[r.Method], r)
		all = append(all, r)
	}
	var rows []report.Row
	for _, m := range order {
		runs := byName[m.Name()]
		row := report.Aggregate(m.Name(), m.Describe(), bench.Ours(m), runs)
		if i := report.Representative(runs); i >= 0 {
			row.Timeline = fmt.Sprintf("timeline-%s%s.svg", m.Name(), suffix)
			charts[row.Timeline] = report.ChartOf(runs[i], bed.Bucket, fmt.Sprintf("%s — %s", m.Name(), m.Describe())).SVG()
		}
		rows = append(rows, row)
	}
	return rows, all, nil
}

// checkDeb makes sure the package rows have their package, rather than measuring stock twice.
func checkDeb(methods []bench.Method, deb string) error {
	for _, m := range methods {
		var path string
		switch p := m.(type) {
		case bench.DebianPackage:
			path = p.Deb
		case bench.LibraryUpdate:
			path = p.Deb
		case bench.ReleaseUpgrade:
			path = p.Deb
		default:
			continue
		}
		if !bench.Ours(m) {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("-deb %q: %w (build it with `make package`, or leave the row out with -methods)", deb, err)
		}
	}
	return nil
}

func selectMethods(all []bench.Method, names string) []bench.Method {
	if names == "" {
		return all
	}
	var out []bench.Method
	for _, m := range all {
		for _, n := range strings.Split(names, ",") {
			if strings.TrimSpace(n) == m.Name() {
				out = append(out, m)
			}
		}
	}
	return out
}

// command is how to reproduce this run.
func command() string {
	return "go run ./internal/lab/cmd/upgrade-bench " + strings.Join(os.Args[1:], " ")
}

// revision names the code the bench ran ("unknown" outside a checkout): git describe, with
// "-dirty" when a tracked file other than documentation differs from it. Results and the README
// are documentation: an axis run just before (config, then tls) or a README being written does
// not change what is measured.
func revision(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--always").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	changed, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no",
		"--", ":/", ":(top,exclude)docs", ":(top,exclude)*.md").Output()
	if err != nil || len(changed) > 0 {
		return rev + "-dirty"
	}
	return rev
}

// describeCtl names the helper binary by its path and hash.
func describeCtl(given, abs string) string {
	sum, err := nginx.HashFile(abs)
	if err != nil {
		return given
	}
	return fmt.Sprintf("%s (sha256 %.24s)", given, sum)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; error: " + e
}

// goalRows are every row the goals apply to: the main ones and the scale ones.
func goalRows(rep *report.Report) []report.Row {
	rows := append([]report.Row(nil), rep.Rows...)
	if s := rep.Scale; s != nil {
		rows = append(rows, s.WorkerRows...)
		if s.IdleRow != nil {
			rows = append(rows, *s.IdleRow)
		}
	}
	return rows
}
