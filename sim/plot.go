package sim

// Plots are hand-written SVG rather than gonum/plot: no dependency, output
// that is a pure function of the result (byte-identical across runs, so a
// plot can be diffed and checked into docs/), and files that render in any
// browser and on GitHub. PNG is not offered; convert the SVG if needed.

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// ErrPlotFormat is returned for a plot file name that does not end in .svg.
var ErrPlotFormat = errors.New("sim: plots are written as SVG (name the file .svg)")

// CheckPlotName rejects a plot file name we cannot write.
func CheckPlotName(name string) error {
	if !strings.HasSuffix(strings.ToLower(name), ".svg") {
		return fmt.Errorf("%w: %q", ErrPlotFormat, name)
	}
	return nil
}

// maxLanes bounds the member lanes drawn; larger groups are sampled evenly.
const maxLanes = 64

func hue(id EpochID) int { return int(uint16(id[0])<<8|uint16(id[1])) % 360 }

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }

// PlotSVG draws each member's head over time (top: epoch number; bottom:
// one lane per member coloured by head epoch id, so equal colours mean the
// same head), with partitions shaded, heals dashed and convergence marked.
func (r *Result) PlotSVG() []byte {
	const W, left, right, top = 1000.0, 60.0, 20.0, 40.0
	ids := make([]MemberID, 0, len(r.Heads))
	for id := range r.Heads {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	lanes := ids
	if len(ids) > maxLanes {
		lanes = nil
		for i := range maxLanes {
			lanes = append(lanes, ids[i*len(ids)/maxLanes])
		}
	}
	laneH := math.Max(4, math.Min(16, 400/float64(len(lanes))))
	epochH := 220.0
	laneTop := top + epochH + 50
	H := laneTop + laneH*float64(len(lanes)) + 50
	end := float64(r.EndMs)
	x := func(t Time) float64 { return left + (W-left-right)*float64(t)/end }
	maxEpoch := 1.0
	for _, id := range ids {
		for _, s := range r.Heads[id] {
			maxEpoch = math.Max(maxEpoch, float64(s.Epoch))
		}
	}
	y := func(e uint64) float64 { return top + epochH - epochH*float64(e)/maxEpoch }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", int(W), int(H))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%s" y="20" font-size="14">%s</text>`+"\n", f1(left), html.EscapeString(fmt.Sprintf(
		"%s, %d members, seed %d: forks %d, lost %d, readmitted %d, violations %d, converge p50 %.0f ms p99 %.0f ms",
		r.Scenario, r.Members, r.Seed, r.ForksRemaining, r.LostMessages, r.ReadmittedRemoved, r.InvariantViolations,
		float64(r.ConvergeP50), float64(r.ConvergeP99))))
	// partitions and phases
	for _, p := range r.PartLog {
		e := p[1]
		if e == 0 {
			e = Time(r.DurationMs)
		}
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#f4cccc"/>`+"\n", f1(x(p[0])), f1(top), f1(x(e)-x(p[0])), f1(H-top-30))
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#c00" stroke-dasharray="4 3"/>`+"\n", f1(x(e)), f1(x(e)), f1(top), f1(H-30))
	}
	for _, t := range r.ConvergeAt {
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#080" stroke-width="1.5"/>`+"\n", f1(x(t)), f1(x(t)), f1(top), f1(H-30))
	}
	for _, t := range []Time{Time(r.DurationMs), Time(r.DurationMs + r.SettleMs)} {
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#888" stroke-dasharray="1 3"/>`+"\n", f1(x(t)), f1(x(t)), f1(top), f1(H-30))
	}
	// epoch number per member
	fmt.Fprintf(&b, `<text x="5" y="%s">epoch</text>`+"\n", f1(top+10))
	fmt.Fprintf(&b, `<text x="5" y="%s">%d</text><text x="5" y="%s">0</text>`+"\n", f1(top+24), int(maxEpoch), f1(top+epochH))
	for _, id := range lanes {
		var pts []string
		for i, s := range r.Heads[id] {
			if !s.InGroup {
				continue
			}
			if i > 0 && len(pts) > 0 {
				prev := r.Heads[id][i-1]
				pts = append(pts, f1(x(s.At))+","+f1(y(prev.Epoch)))
			}
			pts = append(pts, f1(x(s.At))+","+f1(y(s.Epoch)))
		}
		if len(pts) > 0 {
			last := r.Heads[id][len(r.Heads[id])-1]
			if last.InGroup {
				pts = append(pts, f1(x(r.EndMs))+","+f1(y(last.Epoch)))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="hsl(%d,60%%,40%%)" stroke-opacity="0.6" points="%s"/>`+"\n", int(id)*47%360, strings.Join(pts, " "))
		}
	}
	// lanes
	fmt.Fprintf(&b, `<text x="5" y="%s">head per member (colour = epoch id; grey = not in group)</text>`+"\n", f1(laneTop-8))
	for li, id := range lanes {
		yy := laneTop + laneH*float64(li)
		hs := r.Heads[id]
		for i, s := range hs {
			next := r.EndMs
			if i+1 < len(hs) {
				next = hs[i+1].At
			}
			if next <= s.At {
				continue
			}
			fill := "#ddd"
			if s.InGroup {
				fill = fmt.Sprintf("hsl(%d,70%%,50%%)", hue(s.ID))
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n", f1(x(s.At)), f1(yy), f1(x(next)-x(s.At)), f1(laneH-1), fill)
		}
		if laneH >= 9 {
			fmt.Fprintf(&b, `<text x="5" y="%s" font-size="9">m%d</text>`+"\n", f1(yy+laneH-2), id)
		}
	}
	// time axis
	ax := H - 30
	fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="black"/>`+"\n", f1(left), f1(W-right), f1(ax), f1(ax))
	step := niceStep(end / 10)
	for t := 0.0; t <= end; t += step {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%.0fs</text>`+"\n", f1(x(Time(t))), f1(ax+15), t/1000)
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" fill="#555">red: partition, dashed: heal, green: converged, dotted: end of faults / of settle</text>`+"\n", f1(W-right), f1(ax+27))
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// Series is one line of a LineChart.
type Series struct {
	Name string
	Y    []float64 // NaN: no point
}

// LineChart is a chart with categorical x values, for sweep summaries.
type LineChart struct {
	Title, XLabel, YLabel string
	X                     []string
	Series                []Series
}

// SVG renders the chart.
func (c *LineChart) SVG() []byte {
	const W, H, left, right, top, bottom = 720.0, 420.0, 70.0, 170.0, 40.0, 50.0
	maxY := 0.0
	for _, s := range c.Series {
		for _, v := range s.Y {
			if !math.IsNaN(v) {
				maxY = math.Max(maxY, v)
			}
		}
	}
	if maxY == 0 {
		maxY = 1
	}
	step := niceStep(maxY / 5)
	maxY = math.Ceil(maxY/step) * step
	n := math.Max(1, float64(len(c.X)-1))
	x := func(i int) float64 { return left + (W-left-right)*float64(i)/n }
	y := func(v float64) float64 { return H - bottom - (H-top-bottom)*v/maxY }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", int(W), int(H))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%s" y="20" font-size="14">%s</text>`+"\n", f1(left), html.EscapeString(c.Title))
	for v := 0.0; v <= maxY+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#eee"/><text x="%s" y="%s" text-anchor="end">%g</text>`+"\n",
			f1(left), f1(W-right), f1(y(v)), f1(y(v)), f1(left-5), f1(y(v)+4), v)
	}
	for i, l := range c.X {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f1(x(i)), f1(H-bottom+15), html.EscapeString(l))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f1((left+W-right)/2), f1(H-12), html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text x="15" y="%s" transform="rotate(-90 15 %s)" text-anchor="middle">%s</text>`+"\n", f1(H/2), f1(H/2), html.EscapeString(c.YLabel))
	for si, s := range c.Series {
		col := fmt.Sprintf("hsl(%d,65%%,42%%)", si*67%360)
		var pts []string
		for i, v := range s.Y {
			if math.IsNaN(v) || i >= len(c.X) {
				continue
			}
			pts = append(pts, f1(x(i))+","+f1(y(v)))
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", f1(x(i)), f1(y(v)), col)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		ly := top + 16*float64(si)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"/><text x="%s" y="%s">%s</text>`+"\n",
			f1(W-right+10), f1(W-right+30), f1(ly), f1(ly), col, f1(W-right+35), f1(ly+4), html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
