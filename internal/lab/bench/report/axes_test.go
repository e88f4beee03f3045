package report

import (
	"strings"
	"testing"
)

func growthRow(name string, ownCPU float64) AxisRow {
	return AxisRow{Row: Row{Method: "ctl-soak0s+" + name, Ours: true, Runs: 1}, Point: Point{Axis: "growth", Name: name}, OwnCPUMS: ownCPU}
}

func goalsMet(gs []Goal) map[string]bool {
	m := map[string]bool{}
	for _, g := range gs {
		m[g.Goal+" | "+g.Row] = g.Met
	}
	return m
}

func TestAxisGoalsOnGrowth(t *testing.T) {
	a := &Axes{Growth: []AxisRow{growthRow("workers=1", 100), growthRow("workers=64", 900), growthRow("sleepers=3000", 100), growthRow("sleepers=30000", 300)}}
	m := goalsMet(AxisGoals(a))
	if met, ok := m["helper CPU no faster than linear in workers | workers=1 → workers=64"]; !ok || !met {
		t.Errorf("9× the CPU for 64× the workers: goal met %v (present %v), want met", met, ok)
	}
	if met, ok := m["helper CPU flat in unrelated processes | sleepers=3000 → sleepers=30000"]; !ok || met {
		t.Errorf("3× the CPU for 10× the processes: goal met %v (present %v), want not met", met, ok)
	}
	if met := m["0 failed requests, 0 cut downloads | ctl-soak0s+workers=64"]; !met {
		t.Error("a row without failures fails the 0-failed goal")
	}
}

func TestAxisGoalsOnConfigAndTLS(t *testing.T) {
	small := AxisRow{Row: Row{Method: "ctl-soak0s+servers=100", Ours: true, P99Ratio: 1.1, USR2ToServingMS: 30}, Point: Point{Axis: "config", Servers: 100}, OverheadMS: 12}
	big := AxisRow{Row: Row{Method: "ctl-soak0s+servers=20000", Ours: true, P99Ratio: 1.3, USR2ToServingMS: 6000, HelperRSSKiBMax: 15 << 10}, Point: Point{Axis: "config", Servers: 20000}, OverheadMS: 100}
	keys := AxisRow{Row: Row{Method: "ctl-soak0s+tls13-keyfile", Ours: true}, Point: Point{Axis: "tls", KeyFile: true},
		TLS: &TLSRun{ResumedBeforePct: 100, ResumedDuringPct: 96, P99Ratio: 1.1}}
	m := goalsMet(AxisGoals(&Axes{Config: []AxisRow{small, big}, TLS: []AxisRow{keys}}))
	for goal, want := range map[string]bool{
		"helper overhead ≤ 10 ms at 100 server blocks | ctl-soak0s+servers=100":                              false,
		"helper overhead ≤ 2 % of nginx's own start at 20,000 server blocks | ctl-soak0s+servers=20000":      true,
		"helper peak RSS ≤ 20 MiB at 20,000 server blocks | ctl-soak0s+servers=20000":                        true,
		"p99 in the swap window ≤ 1.2× steady (plain HTTP) | ctl-soak0s+servers=20000":                       false,
		"TLS resumption during the swap ≥ 95 % of steady, ticket keys from files | ctl-soak0s+tls13-keyfile": true,
		"TLS p99 in the swap window ≤ 1.2× steady, ticket keys from files | ctl-soak0s+tls13-keyfile":        true,
	} {
		if met, ok := m[goal]; !ok || met != want {
			t.Errorf("%s: met %v (present %v), want %v", goal, met, ok, want)
		}
	}
}

func TestAggregateAxisTakesMediansAndTheNote(t *testing.T) {
	var runs []Run
	for i, ms := range []float64{30, 10, 20} {
		runs = append(runs, Run{P99Ratio: float64(i), Axis: &AxisRun{OverheadMS: ms, Note: map[bool]string{true: "the note"}[i == 2],
			TLS: &TLSRun{Sent: 100, ResumedDuringPct: ms, Series: []ResumeBucket{{AtMS: ms}}}}})
	}
	a := AggregateAxis(Row{Method: "m"}, Point{Name: "p"}, runs)
	if a.OverheadMS != 20 || a.Note != "the note" || a.TLS == nil || a.TLS.ResumedDuringPct != 20 || a.TLS.Sent != 300 {
		t.Fatalf("AggregateAxis = %+v (TLS %+v); want medians 20, the note, 300 sent", a, a.TLS)
	}
	if len(a.TLS.Series) != 1 || a.TLS.Series[0].AtMS != 10 {
		t.Errorf("series %v, want the representative run's (median p99 ratio: the second)", a.TLS.Series)
	}
}

func TestAxisSVGs(t *testing.T) {
	rows := []AxisRow{{Row: Row{Method: "ctl-soak0s+servers=100", USR2ToServingMS: 30}, Point: Point{Servers: 100}, NginxTestMS: 20, OverheadMS: 120},
		{Row: Row{Method: "ctl-soak0s+servers=20000+certs=1000", USR2ToServingMS: 6000}, Point: Point{Servers: 20000, Certs: 1000}, NginxTestMS: 4800, OverheadMS: 150}}
	names, text := parseSVG(t, ConfigSVG(rows))
	if names["rect"] < 7 || !strings.Contains(text, "20000 server blocks, 1000 certificates") || !strings.Contains(text, "4800") {
		t.Errorf("config SVG: %v elements, text %q", names, text)
	}
	tlsRows := []AxisRow{{Row: Row{Method: "ctl-soak0s+tls13-nokeyfile"}, TLS: &TLSRun{Series: []ResumeBucket{{AtMS: -500, OK: 25, Resumed: 25}, {AtMS: 0, OK: 25, Resumed: 5}}}}}
	names, text = parseSVG(t, TLSSVG(tlsRows))
	if names["polyline"] != 1 || !strings.Contains(text, "ctl-soak0s+tls13-nokeyfile") {
		t.Errorf("TLS SVG: %v elements, text %q", names, text)
	}
}
