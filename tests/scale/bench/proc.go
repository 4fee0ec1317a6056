package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Errors of the bench's readers.
var (
	// ErrProcFormat is returned for a /proc file not in the kernel's format.
	ErrProcFormat = errors.New("unexpected /proc format")
	// ErrNoMetric is returned when a scrape lacks a metric.
	ErrNoMetric = errors.New("metric not exposed")
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseCPU returns utime+stime of the content of a /proc/PID/stat file.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted after the last ')'.
func parseCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name: %w", stat, ErrProcFormat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13: %w", len(f), ErrProcFormat)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: utime or stime %q: %w", s, ErrProcFormat)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuOf returns the CPU time (user and system) process pid has spent.
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseCPU(string(b))
}

// parseRSS returns VmRSS in bytes of the content of a /proc/PID/status file.
func parseRSS(status string) (uint64, error) {
	for _, l := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(l, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: VmRSS %q: %w", strings.TrimSpace(v), ErrProcFormat)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("status: no VmRSS line: %w", ErrProcFormat)
}

// rssOf returns the resident set size of process pid.
func rssOf(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseRSS(string(b))
}

// sumMetric returns the sum of the samples of metric name (over all its
// label sets) in a Prometheus text exposition.
func sumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var sum float64
	found := false
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		end := strings.IndexAny(l, "{ ")
		if end < 0 || l[:end] != name {
			continue
		}
		rest := l[end:]
		if rest[0] == '{' {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				return 0, fmt.Errorf("metric %s: line %q: unclosed labels: %w", name, l, ErrProcFormat)
			}
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("metric %s: line %q: no value: %w", name, l, ErrProcFormat)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: value %q: %w", name, f[0], ErrProcFormat)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("metric %s: %w", name, ErrNoMetric)
	}
	return sum, nil
}

// seriesValue returns the value of the series (name and labels exactly as
// exposed) in a Prometheus text exposition; 0 when absent.
func seriesValue(r io.Reader, series string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series+" ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("series %s: no value: %w", series, ErrProcFormat)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("series %s: value %q: %w", series, f[0], ErrProcFormat)
		}
		return v, nil
	}
	return 0, sc.Err()
}
