// Package encoding lists the payload formats: one table of name and
// constructor, so flags, docs and tests resolve names the same way.
package encoding

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// ErrUnknownFormat is returned by ByFormat for a name not in the table.
var ErrUnknownFormat = errors.New("unknown payload format")

// formats is the table of payload formats, sorted by name. key is the
// per-install secret that pseudonyms are made with; formats that export no
// pseudonym ignore it.
var formats = []struct {
	name string
	new  func(key []byte) snapshot.Encoder
}{
	{report.FormatName, func(key []byte) snapshot.Encoder { return report.New(key) }},
	{scc.FormatName, func([]byte) snapshot.Encoder { return scc.Encoder{} }},
}

// Formats returns the names of the payload formats, sorted.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.name
	}
	return names
}

// ByFormat returns the encoder of the named format. An unknown name gives an
// error wrapping ErrUnknownFormat that lists the valid names.
func ByFormat(name string, key []byte) (snapshot.Encoder, error) {
	for _, f := range formats {
		if f.name == name {
			return f.new(key), nil
		}
	}
	return nil, fmt.Errorf("%w %q: valid formats are %s", ErrUnknownFormat, name, strings.Join(Formats(), ", "))
}
