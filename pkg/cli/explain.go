package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/schemadoc"
)

// ErrBadPayloadFile is wrapped by the errors of a --diff file that is not
// a payload of the format compared.
var ErrBadPayloadFile = errors.New("not a payload of the format compared")

func formatSchema(format string) (*schemadoc.Schema, error) {
	raw, err := encoding.Schema(format)
	if err != nil {
		return nil, err
	}
	s, err := schemadoc.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s schema: %w", format, err)
	}
	return s, nil
}

// explain writes each field of payload with its meaning.
func explain(format string, payload []byte, out io.Writer) error {
	s, err := formatSchema(format)
	if err != nil {
		return err
	}
	return s.Explain(out, payload)
}

// diff compares the payload in o.Diff with payload. The file must be a
// payload of o.Format that its schema accepts: one of another format, or of
// a schema version the schema does not know, is refused rather than half
// compared. A version 2 report is compared: the version 3 members show as
// added.
func (o *PayloadOptions) diff(payload []byte, out io.Writer) error {
	name := o.Diff
	if name == StdinName {
		name = "standard input"
	}
	old, err := o.readPayloadFile()
	if err != nil {
		return err
	}
	if err := o.checkPayloadFile(name, old); err != nil {
		return err
	}
	s, err := formatSchema(o.Format)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "--- %s\n+++ %s payload now\n", name, o.Format)
	n, err := s.Diff(out, old, payload)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n > 0 {
		return fmt.Errorf("%s: %w", name, ErrDiffer)
	}
	return nil
}

func (o *PayloadOptions) readPayloadFile() ([]byte, error) {
	var r io.Reader
	name := o.Diff
	if name == StdinName {
		name = "standard input"
		r = o.Stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(o.Diff)
		if err != nil {
			return nil, err // names the file
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, o.MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > o.MaxInputBytes {
		return nil, fmt.Errorf("%s: %w: larger than --max-input-bytes %d", name, ErrBadPayloadFile, o.MaxInputBytes)
	}
	return b, nil
}

// checkPayloadFile refuses a file that o.Format's schema does not accept,
// saying which format it is when another format's schema accepts it.
func (o *PayloadOptions) checkPayloadFile(name string, b []byte) error {
	err := encoding.Validate(o.Format, b)
	if err == nil {
		return nil
	}
	for _, f := range encoding.Formats() {
		if f != o.Format && encoding.Validate(f, b) == nil {
			return fmt.Errorf("%s: %w: it is a %s payload and this one is %s (compare it with --format %s)", name, ErrBadPayloadFile, f, o.Format, f)
		}
	}
	return fmt.Errorf("%s: %w: %w", name, ErrBadPayloadFile, err)
}
