package exporters

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    []string
		wantErr bool
	}{
		{name: "one exporter", spec: "secret", want: []string{"secret"}},
		{name: "blanks and duplicates dropped", spec: " secret, ,secret", want: []string{"secret"}},
		{name: "empty selects none", spec: "", want: nil},
		{name: "table order whatever the spec's", spec: "http,secret", want: []string{"secret", "http"}},
		{name: "http alone", spec: "http", want: []string{"http"}},
		{name: "unknown name refused", spec: "secret,carrier-pigeon", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(tt.spec)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "carrier-pigeon") || !strings.Contains(err.Error(), "valid: secret, http") {
					t.Fatalf("error = %v, want ErrUnknown naming the bad and the valid names", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("Select(%q) = %v, want %v", tt.spec, names, tt.want)
			}
		})
	}
}

func TestDefaultsAreInTable(t *testing.T) {
	if d := Defaults(); !slices.Equal(d, []string{"secret"}) {
		t.Fatalf("Defaults() = %v, want [secret]", d)
	}
}
