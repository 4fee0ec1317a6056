package report

import (
	_ "embed"
	"errors"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/jsonutil"
)

// SchemaID is the $id of schema.json.
const SchemaID = "https://github.com/rancher/telemetry-manager/pkg/encoding/report/schema.json"

// ErrInvalid is wrapped by Validate's errors for payloads the schema rejects.
var ErrInvalid = errors.New("report: payload does not match the schema")

//go:embed schema.json
var schema []byte

var validator = jsonutil.NewValidator(SchemaID, schema, ErrInvalid)

// Schema returns the JSON schema (draft 2020-12) of the report.
func Schema() []byte {
	return append([]byte(nil), schema...)
}

// Validate checks a payload against the report schema. The schema is
// compiled on first use.
func Validate(payload []byte) error {
	return validator.Validate(payload)
}
