package privacy

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	sccenc "github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/identity"
	"github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/pkg/sources"
	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

const telemetryNS = "cattle-telemetry-system"

// startLive starts a real API server holding the first fixture. Label
// values the API server refuses (the e-mails) are left out; everything
// else, annotations and status included, goes in as it is.
func startLive(t *testing.T) *testenv.Env {
	t.Helper()
	crds, err := testenv.RancherCRDs()
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.StartT(t, testenv.Options{CRDs: crds})
	client, err := fixtures.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := fixtures.Read(fixtureFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		labels := o.GetLabels()
		for k, v := range labels {
			if len(validation.IsValidLabelValue(v)) > 0 {
				delete(labels, k)
			}
		}
		o.SetLabels(labels)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := client.Apply(ctx, objs...); err != nil {
		t.Fatal(err)
	}
	return env
}

// connect builds the sources of the live server as a starting controller
// does, with the identity Secret identityName (created when missing), and
// returns the report and scc payloads of its first snapshot and its
// identity.
func connect(t *testing.T, env *testenv.Env, mode, identityName string) (reportPayload, sccPayload []byte, id identity.Identity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel() // stops the caches
	src, err := sources.Connect(ctx, env.Config, sources.Options{
		Mode: mode, Namespace: telemetryNS, IdentityName: identityName,
		CreateIdentity: true, CreateNamespace: true, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := src.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := src.Gatherer.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if reportPayload, err = encoding.Validating(report.New(src.Identity.Key)).Encode(s, testNow); err != nil {
		t.Fatal(err)
	}
	if sccPayload, err = encoding.Validating(sccenc.Encoder{}).Encode(s, testNow); err != nil {
		t.Fatal(err)
	}
	return reportPayload, sccPayload, src.Identity
}

// TestLiveClusterPseudonymsAndOutputs reads the fixture from a real API
// server, as the controller does: the payloads leak nothing; a restart
// (the sources and the identity built anew against the same server, and
// the payload command reading the live cluster) gives the same cluster
// ids; another identity Secret, as another install has, gives other ids.
func TestLiveClusterPseudonymsAndOutputs(t *testing.T) {
	env := startLive(t)
	needles := collectNeedles(t)
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			wantURL := ""
			if mode == options.ModeRancher {
				wantURL = serverURLs[fixtureFiles[0]]
			}
			rep1, scc1, id1 := connect(t, env, mode, identity.DefaultName)
			for name, out := range map[string][]byte{"report": rep1, "scc": scc1} {
				u := ""
				if name == "scc" {
					u = wantURL
				}
				for _, f := range findLeaks(out, needles, u, false) {
					t.Errorf("%s payload of the live cluster: %s", name, f)
				}
			}
			ids1, uuid1 := idsOf(t, rep1)
			// The fixture's four v3 Clusters, or the one cluster of its
			// core Nodes: the server holds the fixture.
			if want := map[string]int{options.ModeRancher: 4, options.ModeKubernetes: 1}[mode]; len(ids1) != want {
				t.Fatalf("%d cluster ids, want %d:\n%s", len(ids1), want, rep1)
			}

			rep2, _, id2 := connect(t, env, mode, identity.DefaultName)
			ids2, uuid2 := idsOf(t, rep2)
			if !bytes.Equal(id1.Key, id2.Key) || !slices.Equal(ids1, ids2) || uuid1 != uuid2 {
				t.Errorf("after a restart: ids %v install %s, before %v install %s", ids2, uuid2, ids1, uuid1)
			}

			// The payload command against the live cluster.
			o := cli.NewPayloadOptions()
			o.Kubeconfig, o.Mode, o.Format = env.KubeconfigPath, mode, report.FormatName
			out, err := runPayload(t, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findLeaks(out, needles, "", false) {
				t.Errorf("payload of the live cluster: %s", f)
			}
			if ids, _ := idsOf(t, out); !slices.Equal(ids, ids1) {
				t.Errorf("payload of the live cluster gives ids %v, the controller's sources %v", ids, ids1)
			}

			// Another install's identity.
			rep3, _, _ := connect(t, env, mode, "telemetry-identity-"+mode+"-other")
			ids3, _ := idsOf(t, rep3)
			if len(ids3) != len(ids1) {
				t.Fatalf("another identity reports %d clusters, the first %d", len(ids3), len(ids1))
			}
			for _, id := range ids3 {
				if slices.Contains(ids1, id) {
					t.Errorf("cluster id %s is the same under two identities", id)
				}
			}
		})
	}
}
