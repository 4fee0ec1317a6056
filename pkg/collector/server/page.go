package server

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/summary"
)

// The page is rendered here, charts included, as HTML with inline SVG: it
// runs no script and loads nothing but its stylesheet from this binary.
// html/template escapes every value, and every value from a report went
// through the schema's bounded patterns before it was stored.
//
//go:embed web
var web embed.FS

var pageTemplate = template.Must(template.ParseFS(web, "web/page.html.tmpl"))

func staticHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}

// Chart geometry, in SVG user units.
const (
	histWidth   = 720
	histHeight  = 160
	shareLabel  = 150
	shareBar    = 380
	shareRow    = 26
	shareMargin = 4
)

type pageData struct {
	Since, Generated string
	Days             int
	Totals           []stat
	History          []historyChart
	Shares           []shareChart
	Rows             []Day
}

type stat struct {
	Label, Value, Human string
}

type historyChart struct {
	Title, Class      string
	Width, Height     int
	Bars              []historyBar
	Max               int64
	First, Last       string
	BaselineY, LabelY int
}

type historyBar struct {
	X, Y, W, H float64
	Class      string
	Date       string
	Value      int64
}

type shareChart struct {
	Title, Unit   string
	Total         string
	Width, Height int
	Rows          []shareRowData
}

type shareRowData struct {
	Key, Label, Count, Percent string
	Y, TextY, BarX             int
	W                          float64
	TextX                      float64
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	sum, err := s.computeSummary(r.Context())
	var hist []Day
	if err == nil {
		hist, err = s.loadHistory(r.Context(), DefaultHistoryDays)
	}
	if err != nil {
		s.cfg.Log.WithError(err).Warn("reading the store for the page failed")
		setRetryAfter(w, storeRetryAfter)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "the store is unavailable; retry later")
		return
	}
	data := pageData{
		Since:     sum.Since.UTC().Format(time.RFC3339),
		Generated: s.cfg.Clock.Now().UTC().Format(time.RFC3339),
		Days:      len(hist),
		Totals: []stat{
			{Label: "Installs", Value: strconv.FormatInt(sum.Installs, 10)},
			{Label: "Clusters", Value: sum.Clusters.String()},
			{Label: "Nodes", Value: sum.Nodes.String()},
			{Label: "CPU cores", Value: sum.CPUCores.String()},
			{Label: "Memory bytes", Value: sum.MemoryBytes.String(), Human: humanBytes(sum.MemoryBytes)},
		},
		History: []historyChart{
			newHistoryChart("Installs reporting per day", "installs", hist, func(d Day) int64 { return d.Installs }),
			newHistoryChart("Nodes per day", "nodes", hist, func(d Day) int64 { return d.Nodes }),
		},
		Shares: []shareChart{
			newShareChart("Nodes by architecture", "nodes", sum.ByArch),
			newShareChart("Installs by product version", "installs", sum.ByVersion),
			newShareChart("Clusters by Kubernetes version", "clusters", sum.ByKubernetesMinor),
			newShareChart("Clusters by driver", "clusters", sum.ByDriver),
		},
		Rows: hist,
	}
	// Rendered whole before anything is sent, so a template error is a
	// 500 and never half a page.
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		s.cfg.Log.WithError(err).Error("rendering the page")
		writeError(w, http.StatusInternalServerError, "rendering the page failed")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}

func newHistoryChart(title, class string, days []Day, value func(Day) int64) historyChart {
	c := historyChart{Title: title, Class: class, Width: histWidth, Height: histHeight + 30, BaselineY: histHeight, LabelY: histHeight + 18}
	for _, d := range days {
		c.Max = max(c.Max, value(d))
	}
	if len(days) == 0 {
		return c
	}
	c.First, c.Last = days[0].Date, days[len(days)-1].Date
	slot := float64(histWidth) / float64(len(days))
	for i, d := range days {
		v := value(d)
		h := 0.0
		if c.Max > 0 {
			h = float64(histHeight-10) * float64(v) / float64(c.Max)
		}
		c.Bars = append(c.Bars, historyBar{
			X: round1(float64(i)*slot + slot*0.1), W: round1(slot * 0.8),
			Y: round1(float64(histHeight) - h), H: round1(h),
			Class: class, Date: d.Date, Value: v,
		})
	}
	return c
}

func newShareChart(title, unit string, shares []summary.Share) shareChart {
	var total summary.Count
	for _, s := range shares {
		total.AddCount(s.Count)
	}
	c := shareChart{Title: title, Unit: unit, Total: total.String(), Width: shareLabel + shareBar + 160}
	c.Height = max(1, len(shares))*shareRow + shareMargin
	for i, s := range shares {
		frac := ratio(s.Count, total)
		w := round1(frac * shareBar)
		c.Rows = append(c.Rows, shareRowData{
			Key: s.Key, Label: clip(s.Key, 20), Count: s.Count.String(), Percent: percent(s.Count, total),
			BarX: shareLabel, Y: i*shareRow + shareMargin, TextY: i*shareRow + shareMargin + 16,
			W: w, TextX: float64(shareLabel) + w + 6,
		})
	}
	return c
}

// percent is 100*part/total with one decimal, computed exactly.
func percent(part, total summary.Count) string {
	t := total.Big()
	if t.Sign() == 0 {
		return "0.0%"
	}
	n := new(big.Int).Mul(part.Big(), big.NewInt(2000))
	n.Add(n, t) // round half up: (2000*part + total) / (2*total)
	n.Quo(n, new(big.Int).Mul(t, big.NewInt(2)))
	tenths := n.Int64()
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}

// ratio is part/total as a float, for drawing only.
func ratio(part, total summary.Count) float64 {
	if total.Big().Sign() == 0 {
		return 0
	}
	f, _ := new(big.Rat).SetFrac(part.Big(), total.Big()).Float64()
	return f
}

func round1(f float64) float64 {
	return float64(int64(f*10+0.5)) / 10
}

// humanBytes writes bytes in binary units with one decimal, for reading;
// the exact figure is shown beside it.
func humanBytes(c summary.Count) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	f, _ := new(big.Float).SetInt(c.Big()).Float64()
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", f)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
