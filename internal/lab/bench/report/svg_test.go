package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
)

// parseSVG decodes every token of b and returns the element names and all text.
func parseSVG(t *testing.T, b []byte) (map[string]int, string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	names := map[string]int{}
	var text strings.Builder
	var root string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", tok.Name.Space)
				}
			}
			names[tok.Name.Local]++
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	return names, text.String()
}

func TestChartSVG(t *testing.T) {
	var buckets []load.Bucket
	for i := range 50 {
		b := load.Bucket{Start: time.Duration(i) * 100 * time.Millisecond, OK: 30, P99: 3 * time.Millisecond}
		if i == 20 {
			b.OK, b.Failed, b.P99 = 10, 20, 900*time.Millisecond
		}
		buckets = append(buckets, b)
	}
	c := Chart{
		Title:    `restart — QUIT <5 s & "TERM"`, // must be escaped
		Subtitle: "run 1",
		Buckets:  buckets,
		Bucket:   100 * time.Millisecond,
		Marks:    []Mark{{"USR2", time.Second}, {"WINCH", 2 * time.Second}, {"QUIT", 2*time.Second + 5*time.Millisecond}},
		Events:   []Mark{{"new serving", 1100 * time.Millisecond}, {"old gone", 6 * time.Second}},
		Spans:    []Span{{"steady", 0, time.Second, "#eee"}, {"swap window", time.Second, 6 * time.Second, "#fee"}},
	}
	names, text := parseSVG(t, c.SVG())
	if names["path"] != 1 || names["line"] < 5 {
		t.Errorf("elements = %v", names)
	}
	// 50 green bars and one red one, plus the background, two spans and legend swatches.
	if names["rect"] < 50+1+1+2 {
		t.Errorf("only %d rects", names["rect"])
	}
	for _, want := range []string{`QUIT <5 s & "TERM"`, "USR2", "WINCH", "QUIT", "old gone", "swap window", "6s"} {
		if !strings.Contains(text, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

func TestChartSVGEmpty(t *testing.T) {
	parseSVG(t, Chart{Title: "nothing", Bucket: 100 * time.Millisecond}.SVG())
}

func TestNiceMax(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 7: 10, 12: 20, 180: 200, 2000: 2000, 2001: 5000} {
		if got := niceMax(in); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestTableAndMarkdown(t *testing.T) {
	rows := []Row{{Method: "ctl-soak0s", Workers: 2, Runs: 3, Took: 3, NewServingMS: -1,
		StreamFailed: Count{Median: 0, Max: 2, Total: 2}, Timeline: "timeline-ctl-soak0s.svg"}}
	tab := Table(rows)
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "0 (max 2)") || !strings.Contains(lines[2], "–") {
		t.Errorf("table:\n%s", tab)
	}
	rep := &Report{Command: "go run ./cmd/upgrade-bench", Rows: rows, Goals: Goals(rows),
		Scale: &Scale{Churn: &ChurnResult{Swaps: 100}, WorkersBench: "BenchmarkX 1 ns/op"}}
	md := rep.Markdown()
	for _, want := range []string{"![ctl-soak0s](timeline-ctl-soak0s.svg)", "## Goals", "100 swaps", "BenchmarkX"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

// The settings say each load and describe the containers only for the rows a report has.
func TestMarkdownDescribesOnlyTheRunsItHas(t *testing.T) {
	host := Row{Method: "ctl-soak0s", FloorMS: 12}
	box := Row{Method: "debian-package-ours", FloorMS: -1}
	lib := Row{Method: "libssl3-update-ours", FloorMS: -1}
	settings := Settings{LoadDurationMS: 24000, DownloadBytes: 20 << 20, ShortLoadMS: 14000, ShortDownloadBytes: 10 << 20}
	for _, c := range []struct {
		name      string
		rep       Report
		want, not []string
	}{
		{"host and box rows", Report{Rows: []Row{host, box}, Settings: settings},
			[]string{"of 20 MiB for 24 s in the package methods' runs; of 10 MiB for 14 s in the host methods' runs", "**Package rows**"},
			[]string{"axes' runs", "**Library rows**"}},
		{"library rows", Report{Rows: []Row{lib}, Settings: settings},
			[]string{"**Package rows**", "**Library rows**"}, []string{"host methods' runs"}},
		{"axes alone", Report{Axes: &Axes{}, Settings: settings},
			[]string{"of 10 MiB for 14 s in the axes' runs, longer by a second per 1,000 server blocks", "(one on the axes)"},
			[]string{"package methods", "host methods' runs", "**Package rows**", "20 MiB"}},
		{"a report from before the short load", Report{Rows: []Row{host, box}, Settings: Settings{LoadDurationMS: 24000, DownloadBytes: 20 << 20}},
			[]string{"must arrive whole, of 20 MiB for 24 s; "}, []string{"host methods' runs"}},
	} {
		md := c.rep.Markdown()
		for _, w := range c.want {
			if !strings.Contains(md, w) {
				t.Errorf("%s: markdown lacks %q", c.name, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(md, n) {
				t.Errorf("%s: markdown says %q", c.name, n)
			}
		}
	}
}

func TestWhatFailedNamesThePointAndCountsByKind(t *testing.T) {
	runs := []Run{
		{Method: "ctl-soak0s", Rep: 1, Workers: 2, Took: true},
		{Method: "ctl-soak0s", Rep: 2, Workers: 5, Took: true, Point: &Point{Axis: "growth", Name: "idle=50000"},
			StreamFailed: 1, StreamErrors: map[string]int{"timeout": 1}, WrkFailed: 3, WrkErrors: map[string]int{"timeout": 2, "read": 1}},
	}
	want := "\n## What failed\n\n- `ctl-soak0s` at idle=50000, run 2 (5 workers): stream timeout 1; wrk read 1, timeout 2;\n\n"
	if got := failureKinds(runs); got != want {
		t.Errorf("failureKinds =\n%q\nwant\n%q", got, want)
	}
}
