package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// The targets. They are printed beside the figures, never asserted: a miss
// is reported and the bench still exits 0.
const (
	// targetRate: reports per second each database sustains, at its best
	// sender count.
	targetRate = 1000
	// targetP99 at targetSenders concurrent senders.
	targetP99     = 100 * time.Millisecond
	targetSenders = 64
)

// nullName names the null collector's rows.
const nullName = "null"

// figures sum up one phase.
type figures struct {
	Rate      float64 // reports answered 202 per second
	P50, P99  time.Duration
	Errors    int
	ErrorKind map[string]int
	Exhausted bool
}

func summarize(l load) figures {
	f := figures{Errors: l.errorCount(), ErrorKind: l.Errors, Exhausted: l.Exhausted}
	if l.Elapsed > 0 {
		f.Rate = float64(len(l.Latencies)) / l.Elapsed.Seconds()
	}
	lat := slices.Clone(l.Latencies)
	slices.Sort(lat)
	f.P50, f.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return f
}

// percentile returns the nearest-rank q-quantile of sorted: the smallest
// value with at least q of the values at or below it; 0 when empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// results are the figures of a run, by database and sender count; the null
// collector's are under nullName.
type results struct {
	Databases []string // in the order measured, without nullName
	Senders   []int
	Figures   map[string]map[int]figures
	// Header describes the run, printed above the tables.
	Header string
}

func (r *results) set(db string, senders int, f figures) {
	if r.Figures == nil {
		r.Figures = map[string]map[int]figures{}
	}
	if r.Figures[db] == nil {
		r.Figures[db] = map[int]figures{}
	}
	r.Figures[db][senders] = f
}

func (r *results) get(db string, senders int) (figures, bool) {
	f, ok := r.Figures[db][senders]
	return f, ok
}

// best returns the sender count with the highest rate of db.
func (r *results) best(db string) (int, figures, bool) {
	bestN, found := 0, false
	var bestF figures
	for _, n := range r.Senders {
		if f, ok := r.get(db, n); ok && (!found || f.Rate > bestF.Rate) {
			bestN, bestF, found = n, f, true
		}
	}
	return bestN, bestF, found
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// figureRows is the table of figures: one row per database and sender
// count, the null collector's figures of the same sender count beside it.
func (r *results) figureRows() [][]string {
	rows := [][]string{{"database", "senders", "reports/s", "p50", "p99", "errors", "null reports/s", "null p50", "null p99", "null errors"}}
	for _, db := range r.Databases {
		for _, n := range r.Senders {
			f, ok := r.get(db, n)
			if !ok {
				continue
			}
			row := append([]string{db, fmt.Sprint(n)}, cells(f)...)
			if nf, ok := r.get(nullName, n); ok {
				row = append(row, cells(nf)...)
			} else {
				row = append(row, "—", "—", "—", "—")
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func cells(f figures) []string {
	rate := fmt.Sprintf("%.0f", f.Rate)
	if f.Exhausted {
		rate += "*"
	}
	return []string{rate, ms(f.P50), ms(f.P99), errorCell(f)}
}

// errorCell is the error count with its status codes, most frequent first.
func errorCell(f figures) string {
	if f.Errors == 0 {
		return "0"
	}
	kinds := slices.Collect(maps.Keys(f.ErrorKind))
	slices.SortFunc(kinds, func(a, b string) int {
		if c := f.ErrorKind[b] - f.ErrorKind[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s×%d", k, f.ErrorKind[k]))
	}
	return fmt.Sprintf("%d (%s)", f.Errors, strings.Join(parts, ", "))
}

// targetRows is the table of targets: each database's best rate and its
// p99 at targetSenders, beside the null collector's, with PASS or MISS.
func (r *results) targetRows() [][]string {
	rows := [][]string{{"target", "figure", "null collector", "verdict"}}
	for _, db := range r.Databases {
		if n, f, ok := r.best(db); ok {
			null := "—"
			if nn, nf, ok := r.best(nullName); ok {
				null = fmt.Sprintf("%.0f reports/s (%d senders)", nf.Rate, nn)
			}
			rows = append(rows, []string{
				fmt.Sprintf("%s: ≥ %d reports/s at its best sender count", db, targetRate),
				fmt.Sprintf("%.0f reports/s (%d senders)", f.Rate, n), null,
				verdict(f.Rate >= targetRate),
			})
		}
		name := fmt.Sprintf("%s: p99 ≤ %s at %d senders", db, ms(targetP99), targetSenders)
		f, ok := r.get(db, targetSenders)
		if !ok {
			rows = append(rows, []string{name, "not measured", "—", "—"})
			continue
		}
		null := "—"
		if nf, ok := r.get(nullName, targetSenders); ok {
			null = ms(nf.P99)
		}
		// A p99 over requests that mostly failed says nothing: a row with
		// errors misses.
		rows = append(rows, []string{name, ms(f.P99), null, verdict(f.P99 <= targetP99 && f.Errors == 0 && f.Rate > 0)})
	}
	return rows
}

// print writes the header and both tables as Markdown.
func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n\n", r.Header)
	markdown(w, r.figureRows())
	exhausted := false
	for _, byN := range r.Figures {
		for _, f := range byN {
			exhausted = exhausted || f.Exhausted
		}
	}
	if exhausted {
		fmt.Fprintln(w, "\n* every prepared report was sent before the duration passed: the phase was cut short (raise --reports).")
	}
	fmt.Fprintln(w)
	markdown(w, r.targetRows())
}

// markdown writes rows as a Markdown table, the first row its header.
func markdown(w io.Writer, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
}

// ms writes d in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
