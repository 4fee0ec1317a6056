package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/rancher/telemetry-manager/pkg/protocol"
)

func TestKeysFileReloadsAndKeepsTheLastGoodKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# rotation: old key first\nold-key-0123456789\n")
	f, err := OpenFile(path, ParseKeys, logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	write("old-key-0123456789\nnew-key-0123456789abc\n")
	if changed, err := f.reload(); err != nil || !changed || len(f.Values()) != 2 || string(f.Values()[1]) != "new-key-0123456789abc" {
		t.Fatalf("after adding a key: changed %v, %v, %q", changed, err, f.Values())
	}
	write("short\n")
	if _, err := f.reload(); !errors.Is(err, protocol.ErrShortKey) || len(f.Values()) != 2 {
		t.Fatalf("after a bad edit: %v, %q", err, f.Values())
	}
	write("# nothing\n")
	if _, err := f.reload(); !errors.Is(err, ErrNoKeys) || len(f.Values()) != 2 {
		t.Fatalf("after emptying: %v, %q", err, f.Values())
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing"), ParseKeys, logrus.NewEntry(logrus.New())); err == nil {
		t.Fatal("a missing file opened")
	}
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := NewOptions()
	o.SigningKeysFile = "keys"
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults with a keys file: %v", err)
	}
	o = NewOptions()
	o.Retention, o.Burst, o.LogFormat = 0, 0, "xml"
	err := o.Validate()
	for _, want := range []string{"--signing-keys-file", "--retention", "--rate-burst", "--log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}
