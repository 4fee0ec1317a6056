package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// TestSchemaRejects checks that helm refuses values the schema (or a
// template check) rules out, naming the culprit.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string // in helm's error
	}{
		{"unknown top-level key", []string{"unknownKey=1"}, "unknownKey"},
		{"unknown nested key", []string{"image.registry=docker.io"}, "registry"},
		{"unknown exporter", []string{"exporters.carrierPigeon.enabled=true"}, "carrierPigeon"},
		{"replicas not a number", []string{"replicas=abc"}, "replicas"},
		{"boolean as string", []string{"telemetry.disabled=yes"}, "disabled"},
		{"unknown mode", []string{"mode=swarm"}, "mode"},
		{"bad log format", []string{"logFormat=xml"}, "logFormat"},
		{"interval not a Go duration", []string{"interval=1hour"}, "interval"},
		{"port out of range", []string{"http.port=70000"}, "port"},
		{"label value not a string", []string{"serviceMonitor.labels.release=1"}, "release"},
		{"extra arg not a flag", []string{"extraArgs={debounce}"}, "extraArgs"},
		{"several replicas without leader election", []string{"replicas=2", "leaderElection.enabled=false"}, "leaderElection.enabled"},
		{"existing service account without a name", []string{"serviceAccount.create=false"}, "serviceAccount.name"},
		{"http exporter without url", []string{"exporters.http.enabled=true", "exporters.http.secretName=creds"}, "exporters.http.url"},
		{"http exporter without secret", []string{"exporters.http.enabled=true", "exporters.http.url=https://c.example"}, "exporters.http.secretName"},
		{"http url not http", []string{"exporters.http.url=ftp://c.example"}, "url"},
		{"http url with user information", []string{"exporters.http.url=https://u:p@c.example"}, "url"},
		{"http secret name invalid", []string{"exporters.http.secretName=Bad_Name"}, "secretName"},
		{"http timeout not a duration", []string{"exporters.http.timeout=30"}, "timeout"},
		{"http CA file and ConfigMap", []string{"exporters.http.caFile=/ca.crt", "exporters.http.caConfigMap=ca"}, "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, append([]string{"template"}, release{set: tc.set}.args()...)...)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded, want a refusal:\n%s", strings.Join(tc.set, ","), out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the refusal does not name %q: %v", tc.want, err)
			}
		})
	}
}

// TestSchemaAccepts checks values the schema must not refuse.
func TestSchemaAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
	}{
		{"durations", []string{"interval=90s", "maxAge=0", "leaderElection.leaseDuration=1m30s"}},
		{"no exporter", []string{"exporters.secret.enabled=false"}},
		{"existing service account", []string{"serviceAccount.create=false", "serviceAccount.name=existing"}},
		{"no rbac", []string{"rbac.create=false"}},
		{"numeric quantity", []string{"resources.limits.cpu=1"}},
		{"scaled to zero", []string{"replicas=0"}},
		{"http exporter", []string{"exporters.http.enabled=true", "exporters.http.url=https://collector.example.com:8443/api/v1/reports?install=1", "exporters.http.secretName=http-credentials"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := helm(t, append([]string{"template"}, release{set: tc.set}.args()...)...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSchemaCoversValues checks values.schema.json against values.yaml: every
// value has a schema with a type, every object the schema describes
// property by property forbids other properties, and the schema describes
// no value that values.yaml lacks (global excepted: Helm passes it to
// subcharts), except inside a value documented as a whole (resources).
func TestSchemaCoversValues(t *testing.T) {
	for _, c := range charts {
		t.Run(c.name, func(t *testing.T) { checkSchemaCoversValues(t, c.dir()) })
	}
}

func checkSchemaCoversValues(t *testing.T, dir string) {
	var schema map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if got := schema["$schema"]; got != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %v, want draft-07", got)
	}
	values := readValuesOf(t, dir)
	text, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseValuesDoc(string(text), values)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, d := range docs {
		documented[d.Key] = true
	}

	resolve := func(node map[string]any) map[string]any {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		if !ok {
			t.Fatalf("unsupported $ref %q", ref)
		}
		def, ok := schema["definitions"].(map[string]any)[name].(map[string]any)
		if !ok {
			t.Fatalf("$ref %q: no such definition", ref)
		}
		return def
	}

	// Every object described property by property is closed, in the
	// definitions too.
	var closed func(path string, node map[string]any)
	closed = func(path string, node map[string]any) {
		if props, ok := node["properties"].(map[string]any); ok {
			if node["additionalProperties"] != false {
				t.Errorf("schema %s: has properties but not additionalProperties: false", path)
			}
			for k, v := range props {
				closed(path+"."+k, v.(map[string]any))
			}
		}
		if ap, ok := node["additionalProperties"].(map[string]any); ok {
			closed(path+".*", ap)
		}
		if items, ok := node["items"].(map[string]any); ok {
			closed(path+"[]", items)
		}
		if node["type"] == "object" && node["properties"] == nil && node["additionalProperties"] == nil && path != ".global" && !strings.HasPrefix(path, ".affinity.") {
			t.Errorf("schema %s: an object with neither properties nor a schema for additionalProperties", path)
		}
	}
	closed("", schema)
	for name, def := range schema["definitions"].(map[string]any) {
		closed("#/definitions/"+name, def.(map[string]any))
	}

	// Walk values.yaml and the schema together.
	var walk func(path string, v any, node map[string]any)
	walk = func(path string, v any, node map[string]any) {
		node = resolve(node)
		if node["type"] == nil {
			t.Errorf("schema of %s: no type", path)
		}
		m, isMap := v.(map[string]any)
		props, hasProps := node["properties"].(map[string]any)
		if !isMap || !hasProps {
			return
		}
		for k, sub := range m {
			p := strings.TrimPrefix(path+"."+k, ".")
			s, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("values.yaml has %s, the schema does not describe it", p)
				continue
			}
			walk(p, sub, s)
		}
		if path != "" && (documented[path] || hasDocumentedAncestor(documented, path)) {
			// A documented map (resources, affinity) whose schema may
			// describe keys the default leaves out.
			return
		}
		for k := range props {
			if _, ok := m[k]; !ok && !(path == "" && k == "global") {
				t.Errorf("the schema describes %s, values.yaml has no such value", strings.TrimPrefix(path+"."+k, "."))
			}
		}
	}
	walk("", values, schema)
}

// readValues decodes the values.yaml of charts/telemetry-manager.
func readValues(t testing.TB) map[string]any {
	t.Helper()
	return readValuesOf(t, chartDir)
}

// readValuesOf decodes the values.yaml of the chart in dir.
func readValuesOf(t testing.TB, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := utilyaml.Unmarshal(b, &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	return values
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
