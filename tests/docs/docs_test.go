// Package docs checks that the README's tables of flags, exporters and
// collected fields match the code and the payload schemas. Run
// `go test ./tests/docs -update` to regenerate them.
package docs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/schemadoc"
	"github.com/rancher/telemetry-manager/pkg/exporters"
)

var update = flag.Bool("update", false, "rewrite the generated sections of README.md")

func flagTable(add func(*pflag.FlagSet)) string {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	add(fs)
	var b strings.Builder
	b.WriteString("| flag | default | meaning |\n| --- | --- | --- |\n")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Deprecated != "" {
			return // a former name, kept working but not documented
		}
		def := f.DefValue
		if f.Name == "kubeconfig" {
			def = "" // $KUBECONFIG of whoever generated the table
		}
		if def != "" {
			def = "`" + def + "`"
		}
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, def, strings.ReplaceAll(f.Usage, "|", "\\|"))
	})
	return b.String()
}

func exporterTable() string {
	var b strings.Builder
	b.WriteString("| exporter | default | what it does |\n| --- | --- | --- |\n")
	for _, e := range exporters.Table {
		on := "off"
		if e.Default {
			on = "on"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", e.Name, on, e.Description)
	}
	return b.String()
}

// collectedTable lists the fields of a payload format, from its schema.
func collectedTable(format string) string {
	raw, err := encoding.Schema(format)
	if err != nil {
		return err.Error()
	}
	s, err := schemadoc.Parse(raw)
	if err != nil {
		return err.Error()
	}
	return s.Table()
}

func sections() map[string]string {
	s := map[string]string{
		"flags-run":     flagTable(func(fs *pflag.FlagSet) { controller.NewOptions().AddFlags(fs) }),
		"flags-payload": flagTable(func(fs *pflag.FlagSet) { cli.NewPayloadOptions().AddFlags(fs) }),
		"flags-audit":   flagTable(func(fs *pflag.FlagSet) { cli.NewAuditOptions().AddFlags(fs) }),
		"exporters":     exporterTable(),

		"flags-scc-status": flagTable(func(fs *pflag.FlagSet) { cli.NewSCCStatusOptions().AddFlags(fs) }),
	}
	for _, format := range encoding.Formats() {
		s["collected-"+format] = collectedTable(format)
	}
	return s
}

func TestREADMETablesMatchCode(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	path := filepath.Join("..", "..", "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for name, want := range sections() {
		re := regexp.MustCompile(`(?s)(<!-- ` + name + `:start -->\n)(.*?)(<!-- ` + name + `:end -->)`)
		m := re.FindStringSubmatch(readme)
		if m == nil {
			t.Errorf("README.md has no <!-- %s:start --> ... <!-- %s:end --> section", name, name)
			continue
		}
		if m[2] == want {
			continue
		}
		if *update {
			readme = re.ReplaceAllLiteralString(readme, m[1]+want+m[3])
			continue
		}
		t.Errorf("README.md section %s is out of date (run go test ./tests/docs -update):\nhave:\n%s\nwant:\n%s", name, m[2], want)
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
