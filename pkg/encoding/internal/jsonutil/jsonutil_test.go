package jsonutil

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

type item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Tags  []int  `json:"tags"`
}

func TestMarshal(t *testing.T) {
	out, err := Marshal(map[string]any{"a": []int{1}, "b": "<&>"})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": [\n    1\n  ],\n  \"b\": \"<&>\"\n}\n"
	if string(out) != want {
		t.Errorf("Marshal = %q, want %q", out, want)
	}
}

// TestAtLeast checks that the bound never exceeds the written size, and
// misses it only by each item's indentation and separator.
func TestAtLeast(t *testing.T) {
	type doc struct {
		Header string `json:"header"`
		Items  []item `json:"items"`
	}
	for _, n := range []int{0, 1, 2, 50} {
		d := doc{Header: "h", Items: []item{}}
		for i := range n {
			d.Items = append(d.Items, item{Name: strings.Repeat("x", i), Count: i, Tags: []int{i, i + 1}})
		}
		out, err := Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		bound, err := AtLeast(d.Items, 2, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if bound > len(out) {
			t.Errorf("%d items: bound %d above size %d", n, bound, len(out))
		}
		// Per item: 4 spaces of indentation and ",\n" (the last has "\n").
		overhead := len(`{
  "header": "h",
  "items": [
  ]
}
`)
		if n == 0 {
			overhead = len("{\n  \"header\": \"h\",\n  \"items\": []\n}\n")
		}
		if want := len(out) - overhead - 6*n + min(n, 1); bound != want {
			t.Errorf("%d items: bound %d, want %d", n, bound, want)
		}
		if n > 1 {
			if early, _ := AtLeast(d.Items, 2, 10); early <= 10 || early >= bound {
				t.Errorf("%d items: early stop gave %d", n, early)
			}
		}
	}
}

var errBad = errors.New("bad")

func TestValidator(t *testing.T) {
	v := NewValidator("https://example.com/s.json", []byte(`{"type":"object","additionalProperties":false,"properties":{"t":{"type":"string","format":"date-time"}}}`), errBad)
	var wg sync.WaitGroup
	for range 8 { // compiled once, safely, by whichever call comes first
		wg.Go(func() {
			if err := v.Validate([]byte(`{"t":"2025-01-01T00:00:00Z"}`)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, bad := range []string{`{"x":1}`, `{"t":"yesterday"}`, `[`, ``} {
		if err := v.Validate([]byte(bad)); !errors.Is(err, errBad) {
			t.Errorf("Validate(%s) = %v, want errBad", bad, err)
		}
	}
	broken := NewValidator("https://example.com/b.json", []byte(`{"type": 5}`), errBad)
	if err := broken.Validate([]byte(`{}`)); err == nil || errors.Is(err, errBad) {
		t.Errorf("broken schema: err = %v, want a compile error that is not errBad", err)
	}
}
