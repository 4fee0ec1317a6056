package report

import (
	_ "embed"
	"errors"
)

// SchemaID is the $id of schema.json.
const SchemaID = "https://github.com/rancher/telemetry-manager/pkg/encoding/report/schema.json"

// ErrInvalid is wrapped by Validate's errors for payloads the schema rejects.
var ErrInvalid = errors.New("report: payload does not match the schema")

//go:embed schema.json
var schema []byte

// Schema returns the JSON schema (draft 2020-12) of the report.
func Schema() []byte {
	return append([]byte(nil), schema...)
}

// Validate checks a payload against the report schema: it accepts and
// refuses exactly what a JSON schema validator does with schema.json, in
// one typed pass over the payload (see validate.go). Errors wrap
// ErrInvalid; a *SchemaError names the field as a JSON pointer.
func Validate(payload []byte) error {
	_, _, err := check(payload)
	return err
}
