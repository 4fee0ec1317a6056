package v3

import (
	"errors"
	"slices"
	"testing"
)

func TestMembersVisitsEachKeyAndSkipsTheRest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // key=value
		kind     Kind
		err      bool
	}{
		{name: "empty", in: `{}`, want: nil},
		{name: "spaces", in: " \n{ \"a\" :\t1 , \"b\":\"x\" }\n", want: []string{`a=1`, `b="x"`}},
		{name: "brackets inside strings", in: `{"a": "}]{[", "b": {"c": "\"}"}, "d": [1, {"e": "]"}]}`,
			want: []string{`a="}]{["`, `b={"c": "\"}"}`, `d=[1, {"e": "]"}]`}},
		{name: "escaped key", in: `{"\u0077orker": true}`, want: []string{`worker=true`}},
		{name: "duplicate keys in order", in: `{"a": 1, "a": 2}`, want: []string{`a=1`, `a=2`}},
		{name: "literals", in: `{"t": true, "f": false, "n": null, "x": -1.5e3}`, want: []string{`t=true`, `f=false`, `n=null`, `x=-1.5e3`}},
		{name: "not an object", in: `[1]`, kind: KindArray},
		{name: "null", in: `null`, kind: KindNone},
		{name: "unterminated", in: `{"a": "x`, err: true},
		{name: "missing colon", in: `{"a" 1}`, err: true},
		{name: "trailing garbage", in: `{"a": 1 "b"}`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			kind, err := members([]byte(tc.in), func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			})
			if tc.err {
				if !errors.Is(err, errSyntax) {
					t.Fatalf("err = %v, want errSyntax", err)
				}
				return
			}
			if err != nil || kind != tc.kind || !slices.Equal(got, tc.want) {
				t.Fatalf("members = %q, %v, %v; want %q, %v", got, kind, err, tc.want, tc.kind)
			}
		})
	}
}

func TestPlainStringFallsBackForEscapesAndBadUTF8(t *testing.T) {
	for in, ok := range map[string]bool{`"amd64"`: true, `"a\"b"`: false, `"a\nb"`: false, "\"\xff\"": false, `"é"`: true} {
		if _, got := plainString([]byte(in)); got != ok {
			t.Errorf("plainString(%q) ok = %v, want %v", in, got, ok)
		}
	}
	var s String
	if err := s.UnmarshalJSON([]byte(`"a\u0062c"`)); err != nil || s.Value != "abc" {
		t.Errorf("escaped string = %q, %v", s.Value, err)
	}
}
