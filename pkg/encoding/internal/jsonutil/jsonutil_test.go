package jsonutil

import (
	"bytes"
	"encoding/json"
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
	type inner struct {
		A int            `json:"a"`
		B []string       `json:"b"`
		C map[string]int `json:"c"`
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"scalars in an array, no HTML escaping", map[string]any{"a": []int{1}, "b": "<&>"},
			"{\n  \"a\": [\n    1\n  ],\n  \"b\": \"<&>\"\n}\n"},
		{"nested objects indented", map[string]any{"o": map[string]any{"p": map[string]any{"q": true}, "r": nil}},
			"{\n  \"o\": {\n    \"p\": {\n      \"q\": true\n    },\n    \"r\": null\n  }\n}\n"},
		{"objects in an array compact, one a line", map[string]any{"l": []inner{
			{A: 1, B: []string{"x", "y"}, C: map[string]int{"k": 2}},
			{B: []string{}, C: map[string]int{}},
		}},
			"{\n  \"l\": [\n    {\"a\":1,\"b\":[\"x\",\"y\"],\"c\":{\"k\":2}},\n    {\"a\":0,\"b\":[],\"c\":{}}\n  ]\n}\n"},
		{"empty containers", map[string]any{"a": []int{}, "o": struct{}{}},
			"{\n  \"a\": [],\n  \"o\": {}\n}\n"},
		{"array of arrays", [][]int{{1, 2}, {}, {3}},
			"[\n  [1,2],\n  [],\n  [3]\n]\n"},
		{"structural bytes and escapes inside strings", map[string]any{
			"k{[,:\"\\": "v}],:\"\\",
			"l":         []any{"s,]", map[string]string{"x\"]": "{,:"}, `\`},
		},
			"{\n  \"k{[,:\\\"\\\\\": \"v}],:\\\"\\\\\",\n  \"l\": [\n    \"s,]\",\n    {\"x\\\"]\":\"{,:\"},\n    \"\\\\\"\n  ]\n}\n"},
		{"top-level scalar", 1.5, "1.5\n"},
		{"null", nil, "null\n"},
		{"empty object", map[string]any{}, "{}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("Marshal =\n%s\nwant\n%s", out, tt.want)
			}
			checkSameJSON(t, tt.v, out)
		})
	}
	if _, err := Marshal(func() {}); err == nil {
		t.Error("Marshal of a func succeeded")
	}
}

// checkSameJSON checks that out is the JSON encoding/json writes for v,
// but for whitespace outside strings.
func checkSameJSON(t *testing.T, v any, out []byte) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Compact(&got, out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if !bytes.Equal(got.Bytes(), bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
		t.Errorf("output differs from encoding/json but for whitespace:\n%s\nwant\n%s", got.Bytes(), want.Bytes())
	}
}

// TestMarshalIndentWithoutNesting checks that a document with no object or
// array inside an array is laid out as json.MarshalIndent lays it out.
func TestMarshalIndentWithoutNesting(t *testing.T) {
	v := map[string]any{
		"s":    "x<y",
		"n":    []float64{1, 2.5, -3e30},
		"e":    []string{},
		"o":    map[string]any{"p": map[string]any{"q": []bool{true, false}}, "r": map[string]any{}},
		"null": nil,
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", Indent)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want.Bytes()) {
		t.Errorf("Marshal =\n%s\nMarshalIndent =\n%s", out, want.Bytes())
	}
}

// FuzzLayout checks that layout keeps any compact JSON value the same value,
// with one element of an array a line.
func FuzzLayout(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `1`, `"a"`, `{"a":[{"b":[1,{}]},[],"x\"]"],"c":{"d":[]}}`, `[[[]],{"":""}]`, `{"k":"\\"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var compact bytes.Buffer
		if json.Compact(&compact, in) != nil {
			return
		}
		out := layout(compact.Bytes())
		var again bytes.Buffer
		if err := json.Compact(&again, out); err != nil {
			t.Fatalf("layout of %s is not JSON: %v\n%s", compact.Bytes(), err, out)
		}
		if !bytes.Equal(again.Bytes(), compact.Bytes()) {
			t.Fatalf("layout of %s changed the value:\n%s", compact.Bytes(), out)
		}
		if !bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("layout of %s has no trailing newline", compact.Bytes())
		}
	})
}

// TestAtLeast checks that the bound is exactly the bytes the items add to
// the payload: the payload's size but for what surrounds the list.
func TestAtLeast(t *testing.T) {
	type doc struct {
		Header string `json:"header"`
		Items  []item `json:"items"`
	}
	for _, n := range []int{0, 1, 2, 50} {
		d := doc{Header: "h", Items: []item{}}
		for i := range n {
			d.Items = append(d.Items, item{Name: strings.Repeat("x", i) + "<\"", Count: i, Tags: []int{i, i + 1}})
		}
		out, err := Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		bound, err := AtLeast(d.Items, 2, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		around := len("{\n  \"header\": \"h\",\n  \"items\": [\n  ]\n}\n")
		if n == 0 {
			around = len("{\n  \"header\": \"h\",\n  \"items\": []\n}\n")
		}
		if bound != len(out)-around {
			t.Errorf("%d items: bound %d, want %d (size %d)", n, bound, len(out)-around, len(out))
		}
		if n > 1 {
			if early, _ := AtLeast(d.Items, 2, 10); early <= 10 || early >= bound {
				t.Errorf("%d items: early stop gave %d", n, early)
			}
		}

		// A top-level list: its items are one level deep.
		top, err := Marshal(d.Items)
		if err != nil {
			t.Fatal(err)
		}
		bound, err = AtLeast(d.Items, 1, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		around = len("[\n]\n")
		if n == 0 {
			around = len("[]\n")
		}
		if bound != len(top)-around {
			t.Errorf("%d items at the top: bound %d, want %d", n, bound, len(top)-around)
		}
	}
	if _, err := AtLeast([]any{func() {}}, 1, 100); err == nil {
		t.Error("AtLeast of a func succeeded")
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

// appItem writes itself through Appender, as the payloads' long list
// types do.
type appItem item

func (a *appItem) AppendJSON(b []byte) []byte {
	b, err := AppendValue(b, item(*a))
	if err != nil {
		panic(err)
	}
	return b
}

// TestMarshalWithAppenders: a document that is an Appender is laid out
// as the same document encoded by reflection.
func TestMarshalWithAppenders(t *testing.T) {
	var items []item
	var apps []appItem
	for i := range 40 {
		it := item{Name: strings.Repeat("y", i) + "<\"\u2028", Count: i, Tags: []int{i}}
		items, apps = append(items, it), append(apps, appItem(it))
	}
	want, err := Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(appList(apps))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Marshal of an Appender:\n%s\nwant\n%s", got, want)
	}
}

// appList is a document that writes itself: a top-level list.
type appList []appItem

func (l appList) AppendJSON(b []byte) []byte { return AppendList(b, l) }

// TestEncodedListIsLaidOutLikeTheList: EncodeList gives AtLeast's bound,
// stopping where AtLeast stops, and its Layout in an order is LayoutList
// of the items in that order, for empty, one-element and long lists.
func TestEncodedListIsLaidOutLikeTheList(t *testing.T) {
	for _, n := range []int{0, 1, 2, 40} {
		var apps []appItem
		for i := range n {
			apps = append(apps, appItem{Name: strings.Repeat("z", i) + "\"\\", Count: -i, Tags: []int{i, 2 * i}})
		}
		for _, limit := range []int{1 << 30, 150, 0} {
			want, err := AtLeast(apps, 2, limit)
			if err != nil {
				t.Fatal(err)
			}
			if _, got := EncodeList(apps, 2, limit); got != want {
				t.Errorf("%d items, limit %d: EncodeList counts %d, AtLeast %d", n, limit, got, want)
			}
		}
		enc, _ := EncodeList(apps, 1, 1<<30)
		order := make([]int32, n)
		reversed := make([]appItem, 0, n)
		for i := range n {
			order[i] = int32(n - 1 - i)
			reversed = append(reversed, apps[n-1-i])
		}
		if n == 0 {
			reversed = []appItem{}
		}
		got := enc.Layout([]byte("x"), order, 1)
		if want := LayoutList([]byte("x"), reversed, 1); string(got) != string(want) {
			t.Errorf("%d items reversed:\n%s\nwant\n%s", n, got, want)
		}
	}
}
