package simulator

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
)

// chartSeries is one line of a chart.
type chartSeries struct {
	Name  string
	Color string
	X, Y  []float64
}

// chart is a line chart over a shared x axis, written as SVG.
type chart struct {
	Title, XLabel, YLabel string
	Series                []chartSeries
}

// Chart geometry in SVG user units.
const (
	chartWidth   = 900
	chartHeight  = 420
	chartLeft    = 80
	chartRight   = 20
	chartTop     = 40
	chartBottom  = 60
	chartYTicks  = 5
	chartXTicks  = 10
	chartFontCSS = "font-family:sans-serif;font-size:12px"
)

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so axis ticks
// fall on round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= v {
			return m * exp
		}
	}
	return 10 * exp
}

// svg renders the chart.
func (c *chart) svg() []byte {
	maxX, maxY := 1.0, 0.0
	for _, s := range c.Series {
		for i := range s.X {
			maxX = math.Max(maxX, s.X[i])
			maxY = math.Max(maxY, s.Y[i])
		}
	}
	maxX = niceCeil(maxX)
	maxY = niceCeil(maxY * 1.05)
	plotW := float64(chartWidth - chartLeft - chartRight)
	plotH := float64(chartHeight - chartTop - chartBottom)
	px := func(x float64) float64 { return chartLeft + x/maxX*plotW }
	py := func(y float64) float64 { return chartTop + plotH - y/maxY*plotH }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" style="%s">`+"\n", chartWidth, chartHeight, chartWidth, chartHeight, chartFontCSS)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", chartLeft, html.EscapeString(c.Title))

	for i := 0; i <= chartYTicks; i++ {
		v := maxY * float64(i) / chartYTicks
		y := py(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", chartLeft, y, chartWidth-chartRight, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", chartLeft-6, y+4, formatTick(v))
	}
	for i := 0; i <= chartXTicks; i++ {
		v := maxX * float64(i) / chartXTicks
		x := px(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x, chartTop, x, chartHeight-chartBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, chartHeight-chartBottom+18, formatTick(v))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", chartLeft, chartTop, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", chartLeft+plotW/2, chartHeight-14, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", chartTop+plotH/2, html.EscapeString(c.YLabel))

	for k, s := range c.Series {
		if len(s.X) == 0 {
			continue
		}
		b.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + s.Color + `" points="`)
		for i := range s.X {
			fmt.Fprintf(&b, "%.1f,%.1f ", px(s.X[i]), py(s.Y[i]))
		}
		b.WriteString("\"/>\n")
		lx := chartWidth - chartRight - 220
		ly := chartTop + 16 + 18*k
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+24, ly-4, s.Color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func formatTick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e5)/10)
	case v >= 1e4:
		return fmt.Sprintf("%gk", math.Round(v/100)/10)
	default:
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	}
}

// WriteCharts writes throughput.svg and latency.svg, one point per second
// of the run, into dir and returns their paths.
func (rep *LoadReport) WriteCharts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create chart directory: %w", err)
	}
	var sec, sent, acked, p50, p99 []float64
	for _, s := range rep.Seconds {
		sec = append(sec, float64(s.Second))
		sent = append(sent, float64(s.SentFixes))
		acked = append(acked, float64(s.AckedFixes))
		p50 = append(p50, s.AckP50Ms)
		p99 = append(p99, s.AckP99Ms)
	}
	mode := "full pipeline"
	switch {
	case rep.Server.Unchecked != "":
		mode = "plain MQTT broker"
	case rep.Server.BrokerOnly:
		mode = "broker-only"
	}
	subtitle := fmt.Sprintf("%d vehicles, QoS %d, %s", rep.Vehicles, rep.QoS, mode)
	charts := map[string]*chart{
		"throughput.svg": {
			Title: "Fixes per second (" + subtitle + ")", XLabel: "seconds since publishing started", YLabel: "fixes/s",
			Series: []chartSeries{
				{Name: "published", Color: "#1f77b4", X: sec, Y: sent},
				{Name: "acknowledged", Color: "#2ca02c", X: sec, Y: acked},
			},
		},
		"latency.svg": {
			Title: "PUBACK latency (" + subtitle + ")", XLabel: "seconds since publishing started", YLabel: "milliseconds",
			Series: []chartSeries{
				{Name: "p50", Color: "#1f77b4", X: sec, Y: p50},
				{Name: "p99", Color: "#d62728", X: sec, Y: p99},
			},
		},
	}
	var paths []string
	for _, name := range []string{"throughput.svg", "latency.svg"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, charts[name].svg(), 0o644); err != nil {
			return paths, fmt.Errorf("write chart: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
