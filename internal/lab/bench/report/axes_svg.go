package report

import (
	"bytes"
	"fmt"
	"math"
)

// The pictures of the scale axes, drawn by hand like the timelines.

var seriesColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// ConfigSVG draws, per configuration size, nginx's -t, the new master's start and the helper's
// overhead as bars on a log scale (the overhead is milliseconds beside seconds).
func ConfigSVG(rows []AxisRow) []byte {
	const w, h, left, right, top, bot = 960, 480, 80, 940, 90, 420
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	text(&b, 12, 22, "start", `font-size="16" font-weight="bold"`, "Helper overhead against configuration size (medians; log scale)")
	text(&b, 12, 42, "start", `fill="#555"`, "overhead = helper start → new build serving, minus its nginx -T and the new master's own start")
	series := []struct {
		name string
		v    func(AxisRow) float64
	}{
		{"nginx -t", func(r AxisRow) float64 { return r.NginxTestMS }},
		{"new master start (USR2 → serving)", func(r AxisRow) float64 { return r.USR2ToServingMS }},
		{"helper overhead", func(r AxisRow) float64 { return r.OverheadMS }},
	}
	for i, s := range series {
		x := float64(left + 10 + i*260)
		fmt.Fprintf(&b, `<rect x="%.0f" y="56" width="12" height="12" fill="%s"/>`+"\n", x, seriesColors[i])
		text(&b, x+18, 66, "start", "", s.name)
	}
	const lo, hi = 0.0, 5.0 // 1 ms to 100 s
	y := func(ms float64) float64 {
		l := math.Log10(max(ms, 1))
		return bot - (min(l, hi)-lo)/(hi-lo)*(bot-top)
	}
	for e := lo; e <= hi; e++ {
		yy := y(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, yy, right, yy)
		text(&b, left-6, yy+4, "end", "", fmt.Sprintf("%g ms", math.Pow(10, e)))
	}
	if len(rows) == 0 {
		b.WriteString("</svg>\n")
		return b.Bytes()
	}
	group := float64(right-left) / float64(len(rows))
	bar := group / float64(len(series)+1)
	for gi, r := range rows {
		gx := float64(left) + float64(gi)*group + bar/2
		for si, s := range series {
			v := s.v(r)
			if v < 0 {
				continue
			}
			x := gx + float64(si)*bar
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y(v), bar-4, bot-y(v), seriesColors[si])
			text(&b, x+(bar-4)/2, y(v)-4, "middle", "", num(v, 0))
		}
		label := fmt.Sprintf("%d server blocks", r.Point.Servers)
		if r.Point.Certs > 0 {
			label += fmt.Sprintf(", %d certificates", r.Point.Certs)
		}
		text(&b, gx+bar*float64(len(series))/2, bot+20, "middle", "", label)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, bot, right, bot)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// TLSSVG draws each TLS row's resumption rate (its representative run) over time, from 2 s
// before the swap's start.
func TLSSVG(rows []AxisRow) []byte {
	const w, h, left, right, top, bot = 960, 480, 64, 940, 110, 420
	const from, to = -2000.0, 10000.0 // ms around the swap's start
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	text(&b, 12, 22, "start", `font-size="16" font-weight="bold"`, "TLS session resumption across the swap (share of handshakes that resumed, per 250 ms)")
	text(&b, 12, 42, "start", `fill="#555"`, "50 returning visitors, 100 handshakes/s; 0 s is the swap's start; one run per row, the one with the median p99 ratio")
	x := func(ms float64) float64 { return left + (ms-from)/(to-from)*(right-left) }
	y := func(pct float64) float64 { return bot - pct/100*(bot-top) }
	for _, p := range []float64{0, 25, 50, 75, 100} {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(p), right, y(p))
		text(&b, left-6, y(p)+4, "end", "", fmt.Sprintf("%g%%", p))
	}
	for s := from; s <= to; s += 2000 {
		text(&b, x(s), bot+18, "middle", "", fmt.Sprintf("%g s", s/1000))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-dasharray="4 3"/>`+"\n", x(0), top, x(0), bot)
	for i, r := range rows {
		if r.TLS == nil {
			continue
		}
		c := seriesColors[i%len(seriesColors)]
		lx := float64(left + 10 + (i%4)*220)
		ly := 60.0 + float64(i/4)*18
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/>`+"\n", lx, ly-10, c)
		text(&b, lx+18, ly, "start", "", r.Method)
		var pts bytes.Buffer
		for _, s := range r.TLS.Series {
			if s.AtMS < from || s.AtMS > to || s.OK+s.Failed == 0 {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(s.AtMS), y(100*float64(s.Resumed)/float64(s.OK+s.Failed)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", bytes.TrimSpace(pts.Bytes()), c)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
