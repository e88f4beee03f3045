package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
)

// Chart is one timeline picture: the open-loop stream's answered and failed requests and its
// p99 per bucket, with the signals a method sent as vertical marks.
type Chart struct {
	Title    string
	Subtitle string
	Buckets  []load.Bucket
	Bucket   time.Duration
	Marks    []Mark // signals: dashed lines, labelled
	Events   []Mark // what the bench saw (new master serving, old master gone, a download cut): dotted
	Spans    []Span // shaded windows
}

// Mark is one event on the load's timeline.
type Mark struct {
	Label string        `json:"label"`
	At    time.Duration `json:"at_ns"`
}

// Span is a shaded window of the timeline.
type Span struct {
	Label    string
	From, To time.Duration
	Fill     string
}

// Geometry of the picture, in pixels.
const (
	svgW, svgH     = 960, 540
	plotL, plotR   = 64, 940
	labelTop       = 80       // first row of mark labels
	labelRows      = 6        // rows of mark labels, staggered so that close marks stay readable
	labelStep      = 12       // between rows: six fit above the requests panel's own label
	reqTop, reqBot = 150, 330 // requests per bucket
	p99Top, p99Bot = 370, 490 // p99 per bucket
)

// SVG draws the chart by hand: a plain SVG that GitHub renders.
func (c Chart) SVG() []byte {
	var b bytes.Buffer
	end := c.end()
	x := func(d time.Duration) float64 {
		return plotL + float64(d)/float64(end)*(plotR-plotL)
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	text(&b, 12, 22, "start", "font-size=\"16\" font-weight=\"bold\"", c.Title)
	text(&b, 12, 40, "start", "fill=\"#444\"", c.Subtitle)
	c.legend(&b)

	for _, s := range c.Spans {
		x0, x1 := x(max(s.From, 0)), x(min(s.To, end))
		if x1 <= x0 {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, reqTop, x1-x0, p99Bot-reqTop, s.Fill)
		text(&b, x0+3, reqTop+12, "start", "fill=\"#666\" font-size=\"11\"", s.Label)
	}

	// Requests per bucket: answered (green) with failed (red) stacked on top.
	reqMax := niceMax(float64(maxOf(c.Buckets, func(k load.Bucket) int { return k.OK + k.Failed })))
	yReq := func(v float64) float64 { return reqBot - v/reqMax*(reqBot-reqTop) }
	bw := math.Max(x(c.Bucket)-x(0)-0.5, 0.5)
	for _, k := range c.Buckets {
		if k.OK > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#66bb6a"/>`+"\n", x(k.Start), yReq(float64(k.OK)), bw, reqBot-yReq(float64(k.OK)))
		}
		if k.Failed > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#e53935"/>`+"\n", x(k.Start), yReq(float64(k.OK+k.Failed)), bw, yReq(float64(k.OK))-yReq(float64(k.OK+k.Failed)))
		}
	}
	axisY(&b, reqTop, reqBot, reqMax, yReq, "")
	text(&b, 12, reqTop-8, "start", "fill=\"#444\"", fmt.Sprintf("requests per %s (open-loop stream)", c.Bucket))

	// p99 per bucket, over answered requests.
	p99Max := niceMax(Millis(slices.Max(append([]time.Duration{0}, bucketP99s(c.Buckets)...))))
	yP99 := func(v float64) float64 { return p99Bot - v/p99Max*(p99Bot-p99Top) }
	// The line breaks where no request was answered: there is no latency to draw there.
	var path []string
	cmd := "M"
	for _, k := range c.Buckets {
		if k.OK == 0 {
			cmd = "M"
			continue
		}
		path = append(path, fmt.Sprintf("%s%.1f,%.1f", cmd, x(k.Start+c.Bucket/2), yP99(Millis(k.P99))))
		cmd = "L"
	}
	if len(path) > 0 {
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#1e88e5" stroke-width="1.5"/>`+"\n", strings.Join(path, " "))
	}
	axisY(&b, p99Top, p99Bot, p99Max, yP99, " ms")
	text(&b, 12, p99Top-8, "start", "fill=\"#444\"", fmt.Sprintf("p99 latency per %s (answered requests)", c.Bucket))

	axisX(&b, end, x)
	c.marks(&b, x)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// end is the right edge of the timeline: the last bucket's end, or the last mark.
func (c Chart) end() time.Duration {
	end := time.Second
	if n := len(c.Buckets); n > 0 {
		end = max(end, c.Buckets[n-1].Start+c.Bucket)
	}
	for _, m := range append(slices.Clone(c.Marks), c.Events...) {
		end = max(end, m.At)
	}
	return end
}

func (c Chart) legend(b *bytes.Buffer) {
	y := 60.0
	items := []struct{ swatch, label string }{
		{`<rect x="%.1f" y="%.1f" width="10" height="10" fill="#66bb6a"/>`, "answered"},
		{`<rect x="%.1f" y="%.1f" width="10" height="10" fill="#e53935"/>`, "failed"},
		{`<rect x="%.1f" y="%.1f" width="10" height="3" fill="#1e88e5"/>`, "p99"},
		{`<rect x="%.1f" y="%.1f" width="10" height="2" fill="#6a1b9a"/>`, "signal sent"},
		{`<rect x="%.1f" y="%.1f" width="10" height="2" fill="#888"/>`, "seen by the bench"},
	}
	xx := 12.0
	for _, it := range items {
		fmt.Fprintf(b, it.swatch+"\n", xx, y-9)
		text(b, xx+14, y, "start", "", it.label)
		xx += 30 + 7*float64(len(it.label))
	}
}

// marks draws signals (dashed) and events (dotted) across both panels, labels staggered in rows
// so that close marks (WINCH and QUIT a few ms apart) stay readable.
func (c Chart) marks(b *bytes.Buffer, x func(time.Duration) float64) {
	type lab struct {
		m      Mark
		signal bool
	}
	var all []lab
	for _, m := range c.Marks {
		all = append(all, lab{m, true})
	}
	for _, m := range c.Events {
		all = append(all, lab{m, false})
	}
	slices.SortStableFunc(all, func(a, b lab) int { return int(a.m.At - b.m.At) })
	// Each row remembers where its last label ends; a label takes the first row free at its x.
	end := make([]float64, labelRows)
	for i := range end {
		end[i] = -1e9
	}
	for _, l := range all {
		px := x(l.m.At)
		row := 0
		for row < labelRows-1 && px < end[row]+4 {
			row++
		}
		end[row] = px + 2 + 6.5*float64(len([]rune(l.m.Label)))
		color, dash := "#6a1b9a", "6,3"
		if !l.signal {
			color, dash = "#888", "2,3"
		}
		ly := float64(labelTop + labelStep*row)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="%s"/>`+"\n", px, ly+2, px, p99Bot, color, dash)
		text(b, px+2, ly, "start", fmt.Sprintf("fill=\"%s\" font-size=\"11\"", color), l.m.Label)
	}
}

func axisY(b *bytes.Buffer, top, bot int, maxV float64, y func(float64) float64, unit string) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotL, top, plotL, bot)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotL, bot, plotR, bot)
	for i := 0; i <= 4; i++ {
		v := maxV * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", plotL, y(v), plotR, y(v))
		text(b, plotL-4, y(v)+4, "end", "fill=\"#444\" font-size=\"11\"", fmt.Sprintf("%g%s", round3(v), unit))
	}
}

func axisX(b *bytes.Buffer, end time.Duration, x func(time.Duration) float64) {
	step := time.Second
	if end > 30*time.Second {
		step = 5 * time.Second
	}
	for t := time.Duration(0); t <= end; t += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x(t), p99Bot, x(t), p99Bot+4)
		text(b, x(t), p99Bot+16, "middle", "fill=\"#444\" font-size=\"11\"", fmt.Sprintf("%gs", t.Seconds()))
	}
	text(b, (plotL+plotR)/2, p99Bot+34, "middle", "fill=\"#444\"", "time since the load started")
}

// text writes an escaped <text> element.
func text(b *bytes.Buffer, x, y float64, anchor, attrs, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" %s>`, x, y, anchor, attrs)
	xml.EscapeText(b, []byte(s))
	b.WriteString("</text>\n")
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, so axis labels are round.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func maxOf[T any](xs []T, f func(T) int) int {
	m := 0
	for _, x := range xs {
		m = max(m, f(x))
	}
	return m
}

func bucketP99s(bs []load.Bucket) []time.Duration {
	out := make([]time.Duration, len(bs))
	for i, k := range bs {
		out[i] = k.P99
	}
	return out
}
