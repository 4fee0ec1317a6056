package protocol

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	key1 = []byte("0123456789abcdef-key-one")
	key2 = []byte("0123456789abcdef-key-two")
	now  = time.Unix(1_780_000_000, 0)
	body = []byte("\x1f\x8b compressed bytes as sent")
)

func TestSignVerify(t *testing.T) {
	h := Sign(now, body, key1)
	if !strings.HasPrefix(h, "t=1780000000,v1=") || len(h) != len("t=1780000000,v1=")+64 {
		t.Fatalf("Sign = %q", h)
	}
	if err := Verify(h, body, now, [][]byte{key2, key1}); err != nil {
		t.Fatalf("Verify with the key among several: %v", err)
	}
	if err := Verify(Sign(now, body, key2, key1), body, now, [][]byte{key1}); err != nil {
		t.Fatalf("Verify of a header with two v1 entries: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	good := Sign(now, body, key1)
	cases := []struct {
		name   string
		header string
		body   []byte
		at     time.Time
		keys   [][]byte
		want   error
	}{
		{"no header", "", body, now, [][]byte{key1}, ErrNoSignature},
		{"blank header", "  ", body, now, [][]byte{key1}, ErrNoSignature},
		{"wrong key", good, body, now, [][]byte{key2}, ErrBadSignature},
		{"no keys", good, body, now, nil, ErrBadSignature},
		{"body changed", good, append([]byte("x"), body...), now, [][]byte{key1}, ErrBadSignature},
		{"timestamp changed", strings.Replace(good, "t=1780000000", "t=1780000001", 1), body, now, [][]byte{key1}, ErrBadSignature},
		{"six minutes old", good, body, now.Add(6 * time.Minute), [][]byte{key1}, ErrStale},
		{"six minutes ahead", good, body, now.Add(-6 * time.Minute), [][]byte{key1}, ErrStale},
		{"no t", "v1=" + strings.Repeat("a", 64), body, now, [][]byte{key1}, ErrMalformed},
		{"two t", "t=1,t=2,v1=" + strings.Repeat("a", 64), body, now, [][]byte{key1}, ErrMalformed},
		{"no v1", "t=1780000000", body, now, [][]byte{key1}, ErrMalformed},
		{"short v1", "t=1780000000,v1=abcd", body, now, [][]byte{key1}, ErrMalformed},
		{"non-hex v1", "t=1780000000,v1=" + strings.Repeat("z", 64), body, now, [][]byte{key1}, ErrMalformed},
		{"negative t", "t=-5,v1=" + strings.Repeat("a", 64), body, now, [][]byte{key1}, ErrMalformed},
		{"signed t", "t=+1780000000,v1=" + strings.Repeat("a", 64), body, now, [][]byte{key1}, ErrMalformed},
		{"entry without =", "t=1780000000,v1", body, now, [][]byte{key1}, ErrMalformed},
		{"too many v1", "t=1780000000" + strings.Repeat(",v1="+strings.Repeat("a", 64), MaxSignatures+1), body, now, [][]byte{key1}, ErrMalformed},
		{"too long", "t=1780000000,x=" + strings.Repeat("a", MaxHeaderBytes), body, now, [][]byte{key1}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.header, c.body, c.at, c.keys)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseSignatureIgnoresOtherSchemes(t *testing.T) {
	h := Sign(now, body, key1) + ",v2=whatever"
	if err := Verify(h, body, now, [][]byte{key1}); err != nil {
		t.Fatalf("Verify with an unknown scheme beside v1: %v", err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	k := IdempotencyKey([]byte("{}"))
	if k != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Fatalf("IdempotencyKey({}) = %s", k)
	}
	if !ValidIdempotencyKey(k) {
		t.Fatal("ValidIdempotencyKey refuses a key IdempotencyKey made")
	}
	for _, bad := range []string{"", k[:63], k + "0", strings.ToUpper(k), strings.Repeat("g", 64)} {
		if ValidIdempotencyKey(bad) {
			t.Errorf("ValidIdempotencyKey(%q) = true", bad)
		}
	}
}

func TestParseKeys(t *testing.T) {
	keys, err := ParseKeys([]byte("# rotation: new key first\n  0123456789abcdef-new \n\n0123456789abcdef-old\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || string(keys[0]) != "0123456789abcdef-new" || string(keys[1]) != "0123456789abcdef-old" {
		t.Fatalf("ParseKeys = %q", keys)
	}
	if _, err := ParseKeys([]byte("0123456789abcdef\nshort\n")); !errors.Is(err, ErrShortKey) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("ParseKeys of a short key on line 2 = %v", err)
	}
}
