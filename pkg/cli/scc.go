package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/options"
)

// SCCStatusOptions configure the scc status command.
type SCCStatusOptions struct {
	Kubeconfig string
	Namespace  string
	// Output is "text" (for people) or "json".
	Output string
}

// NewSCCStatusOptions returns the defaults.
func NewSCCStatusOptions() *SCCStatusOptions {
	return &SCCStatusOptions{Kubeconfig: os.Getenv("KUBECONFIG"), Namespace: sccexporter.DefaultNamespace, Output: "text"}
}

// AddFlags registers the flags of scc status.
func (o *SCCStatusOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default $KUBECONFIG, else in-cluster)")
	fs.StringVar(&o.Namespace, "scc-namespace", o.Namespace, "namespace of the scc exporter, which holds ConfigMap "+sccexporter.StatusConfigMapName)
	fs.StringVarP(&o.Output, "output", "o", o.Output, "output format: text or json")
}

// Validate checks the flags.
func (o *SCCStatusOptions) Validate() error {
	var errs []error
	errs = append(errs, options.CheckName("--scc-namespace", o.Namespace, validation.IsDNS1123Label))
	if o.Output != "text" && o.Output != "json" {
		errs = append(errs, fmt.Errorf("--output %q: must be text or json", o.Output))
	}
	return errors.Join(errs...)
}

// SCCStatus prints the SCC registration as the scc exporter last wrote it.
func SCCStatus(ctx context.Context, c corev1client.ConfigMapsGetter, o *SCCStatusOptions, out io.Writer) error {
	st, err := sccexporter.ReadStatus(ctx, c, o.Namespace)
	if err != nil {
		return err
	}
	return PrintSCCStatus(out, st, o.Output)
}

// PrintSCCStatus writes st as text or JSON (keys mode, state, systemID,
// product, expiresAt, lastKeepalive, lastError, and warning when there is
// one).
func PrintSCCStatus(out io.Writer, st sccexporter.Status, format string) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"mode", st.Mode}, {"state", st.State}, {"system id", st.SystemID}, {"product", st.Product},
		{"expires at", st.ExpiresAt}, {"last keepalive", st.LastKeepalive}, {"last error", st.LastError},
	}
	if st.Warning != "" {
		rows = append(rows, [2]string{"warning", st.Warning})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s:\t%s\n", r[0], dash(r[1]))
	}
	return w.Flush()
}
