package chart

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ruleSet flattens the rules of the Roles and ClusterRoles of objs into
// sorted "Kind: group/resource verb [name]" lines ("core" for the core
// group, no brackets when the rule names no object), one per combination.
func ruleSet(t testing.TB, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, err := unstructured.NestedSlice(o.Object, "rules")
		if err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		for _, r := range rules {
			r := r.(map[string]any)
			str := func(k string) []string {
				s, _, err := unstructured.NestedStringSlice(r, k)
				if err != nil {
					t.Fatalf("%s %s: rule %s: %v", o.GetKind(), o.GetName(), k, err)
				}
				return s
			}
			if urls := str("nonResourceURLs"); len(urls) > 0 {
				out = append(out, fmt.Sprintf("%s: nonResourceURLs %v", o.GetKind(), urls))
			}
			names := str("resourceNames")
			for _, g := range str("apiGroups") {
				if g == "" {
					g = "core"
				}
				for _, res := range str("resources") {
					for _, v := range str("verbs") {
						if len(names) == 0 {
							out = append(out, fmt.Sprintf("%s: %s/%s %s", o.GetKind(), g, res, v))
						}
						for _, n := range names {
							out = append(out, fmt.Sprintf("%s: %s/%s %s [%s]", o.GetKind(), g, res, v, n))
						}
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestRBACNoWildcards checks every values file and every switch: no rule
// has "*" as a verb, resource, API group or name, none grants a
// non-resource URL, and no rule names objects for verbs Kubernetes cannot
// limit by name.
func TestRBACNoWildcards(t *testing.T) {
	renders := map[string]release{}
	for name, path := range ciValues(t) {
		renders[name] = release{valuesFile: path}
	}
	renders["no secret exporter"] = release{set: []string{"exporters.secret.enabled=false"}}
	renders["http exporter"] = release{set: []string{"exporters.http.enabled=true", "exporters.http.url=https://c.example", "exporters.http.secretName=creds"}}
	for name, r := range renders {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, line := range ruleSet(t, render(t, r)) {
				if strings.Contains(line, "*") {
					t.Errorf("wildcard: %s", line)
				}
				if strings.Contains(line, "nonResourceURLs") {
					t.Errorf("non-resource URL: %s", line)
				}
				// list and watch by name hold when the request's field
				// selector names the object, as the credentials cache does.
				for _, v := range []string{" create [", " deletecollection ["} {
					if strings.Contains(line, v) {
						t.Errorf("resourceNames on a verb they cannot limit: %s", line)
					}
				}
				for _, v := range []string{" delete", " deletecollection", " escalate", " bind", " impersonate"} {
					// A SecretRequest's Secret is removed when the request
					// moves or goes: delete on Secrets, in a Role only.
					if strings.Contains(line, v) && line != "Role: core/secrets delete" {
						t.Errorf("the manager never needs %s: %s", v, line)
					}
				}
			}
		})
	}
}

// Rules of the default values (auto mode, secret exporter, leader
// election), in the form of ruleSet.
var (
	rancherRules = []string{
		"ClusterRole: management.cattle.io/clusters get",
		"ClusterRole: management.cattle.io/clusters list",
		"ClusterRole: management.cattle.io/clusters watch",
		"ClusterRole: management.cattle.io/features get",
		"ClusterRole: management.cattle.io/features list",
		"ClusterRole: management.cattle.io/features watch",
		"ClusterRole: management.cattle.io/nodes get",
		"ClusterRole: management.cattle.io/nodes list",
		"ClusterRole: management.cattle.io/nodes watch",
		"ClusterRole: management.cattle.io/settings get",
		"ClusterRole: management.cattle.io/settings list",
		"ClusterRole: management.cattle.io/settings watch",
	}
	kubernetesRules = []string{
		"ClusterRole: core/nodes get",
		"ClusterRole: core/nodes list",
		"ClusterRole: core/nodes watch",
	}
	alwaysClusterRules = []string{
		"ClusterRole: core/namespaces get [kube-system]",
	}
	// secretRequestRules serve SecretRequests (on by default).
	secretRequestRules = []string{
		"ClusterRole: telemetry.cattle.io/secretrequests get",
		"ClusterRole: telemetry.cattle.io/secretrequests list",
		"ClusterRole: telemetry.cattle.io/secretrequests update",
		"ClusterRole: telemetry.cattle.io/secretrequests watch",
		"ClusterRole: telemetry.cattle.io/secretrequests/finalizers update",
		"ClusterRole: telemetry.cattle.io/secretrequests/status update",
	}
	// secretRequestRancherRules find the System project's namespaces.
	secretRequestRancherRules = []string{
		"ClusterRole: core/namespaces get",
		"ClusterRole: management.cattle.io/projects list",
	}
	// secretRequestTargetRules are granted in each listed target namespace.
	secretRequestTargetRules = []string{
		"Role: core/secrets delete",
		"Role: core/secrets get",
		"Role: core/secrets list",
		"Role: core/secrets patch",
		"Role: core/secrets watch",
	}
	namespaceRules = []string{
		"Role: core/configmaps create",
		"Role: core/configmaps get [telemetry-events]",
		"Role: core/configmaps get [telemetry-manager]",
		"Role: core/configmaps list",
		"Role: core/configmaps update [telemetry-events]",
		"Role: core/configmaps watch",
		"Role: core/secrets create",
		"Role: core/secrets get [telemetry-identity]",
		"Role: core/secrets list",
		"Role: core/secrets update [telemetry-identity]",
		"Role: core/secrets watch",
	}
	payloadRules = []string{
		"Role: core/secrets patch [telemetry]",
	}
	leaseRules = []string{
		"Role: coordination.k8s.io/leases create",
		"Role: coordination.k8s.io/leases get [telemetry-manager]",
		"Role: coordination.k8s.io/leases update [telemetry-manager]",
	}
)

func concat(parts ...[]string) []string {
	out := slices.Concat(parts...)
	sort.Strings(out)
	return out
}

// TestRBACRenderedFromValues checks that the rules follow what is enabled:
// the mode picks what the ClusterRole reads, leader election adds the Lease
// rules, the secret exporter adds the payload rule.
func TestRBACRenderedFromValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want []string
	}{
		{"defaults", nil, concat(rancherRules, kubernetesRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules, namespaceRules, payloadRules, leaseRules)},
		{"rancher mode", []string{"mode=rancher"}, concat(rancherRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules, namespaceRules, payloadRules, leaseRules)},
		{"kubernetes mode", []string{"mode=kubernetes"}, concat(kubernetesRules, alwaysClusterRules, secretRequestRules, namespaceRules, payloadRules, leaseRules)},
		{"no leader election", []string{"leaderElection.enabled=false"}, concat(rancherRules, kubernetesRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules, namespaceRules, payloadRules)},
		{"no secret exporter", []string{"exporters.secret.enabled=false"}, concat(rancherRules, kubernetesRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules, namespaceRules, leaseRules)},
		{"renamed objects", []string{"mode=kubernetes", "exporters.secret.name=report", "configMap.name=switch", "leaderElection.id=lock"}, concat(
			kubernetesRules, alwaysClusterRules, secretRequestRules, leaseRules[:1],
			[]string{
				"Role: core/configmaps create",
				"Role: core/configmaps get [switch]",
				"Role: core/configmaps get [telemetry-events]",
				"Role: core/configmaps list",
				"Role: core/configmaps update [telemetry-events]",
				"Role: core/configmaps watch",
				"Role: core/secrets create",
				"Role: core/secrets get [telemetry-identity]",
				"Role: core/secrets list",
				"Role: core/secrets update [telemetry-identity]",
				"Role: core/secrets watch",
				"Role: core/secrets patch [report]",
				"Role: coordination.k8s.io/leases get [lock]",
				"Role: coordination.k8s.io/leases update [lock]",
			})},
		// The payload rule moves to a Role of the target namespace, with
		// the list and watch its cache needs there.
		{"secret target namespace", []string{"exporters.secret.namespace=reports"}, concat(rancherRules, kubernetesRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules, namespaceRules, leaseRules,
			[]string{"Role: core/secrets patch [telemetry]", "Role: core/secrets list", "Role: core/secrets watch"})},
		{"http exporter", []string{"exporters.http.enabled=true", "exporters.http.url=https://c.example", "exporters.http.secretName=http-credentials"},
			concat(rancherRules, kubernetesRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules, namespaceRules, payloadRules, leaseRules, []string{
				"Role: core/secrets get [http-credentials]",
				"Role: core/secrets list [http-credentials]",
				"Role: core/secrets watch [http-credentials]",
			})},
		// Secret access only in the listed target namespaces, each a Role.
		{"secret request namespaces", []string{"mode=kubernetes", "secretRequests.namespaces={cattle-scc-system,team-a}"},
			concat(kubernetesRules, alwaysClusterRules, secretRequestRules, namespaceRules, payloadRules, leaseRules, secretRequestTargetRules, secretRequestTargetRules)},
		{"secret request selector", []string{"mode=kubernetes", "secretRequests.namespaceSelector=a=b"},
			concat(kubernetesRules, alwaysClusterRules, secretRequestRules, secretRequestRancherRules[:1], namespaceRules, payloadRules, leaseRules)},
		{"no secret requests", []string{"secretRequests.enabled=false", "secretRequests.namespaces={team-a}"},
			concat(rancherRules, kubernetesRules, alwaysClusterRules, namespaceRules, payloadRules, leaseRules)},
		{"no rbac", []string{"rbac.create=false"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, release{set: tc.set})
			if got := ruleSet(t, objs); !slices.Equal(got, tc.want) {
				t.Errorf("rules:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			for _, kind := range []string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"} {
				if has(objs, kind) != (tc.want != nil) {
					t.Errorf("%s rendered: %v, want %v", kind, has(objs, kind), tc.want != nil)
				}
			}
		})
	}
}

// TestRBACLeasesOnlyWithLeaderElection checks each ci/ file: Lease rules
// exist exactly when leader election is on, and name the Lease the
// Deployment passes in --leader-election-id.
func TestRBACLeasesOnlyWithLeaderElection(t *testing.T) {
	for name, path := range ciValues(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, release{valuesFile: path})
			flags := parseArgs(t, containerArgs(t, objs))
			elect := flags["leader-elect"] == "true"
			var leaseLines []string
			for _, line := range ruleSet(t, objs) {
				if strings.Contains(line, "leases") {
					leaseLines = append(leaseLines, line)
				}
			}
			if !elect {
				if len(leaseLines) > 0 {
					t.Errorf("leader election is off, yet the chart grants:\n  %s", strings.Join(leaseLines, "\n  "))
				}
				return
			}
			id := flags["leader-election-id"]
			want := []string{
				"Role: coordination.k8s.io/leases create",
				"Role: coordination.k8s.io/leases get [" + id + "]",
				"Role: coordination.k8s.io/leases update [" + id + "]",
			}
			if !slices.Equal(leaseLines, want) {
				t.Errorf("lease rules:\n  %s\nwant:\n  %s", strings.Join(leaseLines, "\n  "), strings.Join(want, "\n  "))
			}
			if ns := flags["leader-election-namespace"]; ns != releaseNamespace {
				t.Errorf("--leader-election-namespace=%s, want the release namespace %s", ns, releaseNamespace)
			}
		})
	}
}

// access is one request the ServiceAccount makes (or must not be able to).
type access struct {
	verb, group, resource, namespace, name string
}

func (a access) String() string {
	s := a.verb + " " + a.group + "/" + a.resource
	if a.namespace != "" {
		s += " in " + a.namespace
	}
	if a.name != "" {
		s += " named " + a.name
	}
	return s
}

// allowed asks the API server whether user (with groups) may do a. It may
// run outside the test's goroutine.
func allowed(t testing.TB, user string, groups []string, a access) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace, Name: a.name,
		},
	}}
	got, err := client.Kube.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("access review %s: %w", a, err)
	}
	return got.Status.Allowed, nil
}

// serviceAccountUser returns the user name and groups the API server gives
// a ServiceAccount's token.
func serviceAccountUser(ns, name string) (string, []string) {
	return "system:serviceaccount:" + ns + ":" + name,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
}

// TestSecretTargetRoleLivesInTheTargetNamespace: with
// exporters.secret.namespace set, the manager is told the namespace and its
// Role for the payload is bound there, not in the release namespace.
func TestSecretTargetRoleLivesInTheTargetNamespace(t *testing.T) {
	objs := render(t, release{set: []string{"exporters.secret.namespace=reports"}})
	if got := parseArgs(t, containerArgs(t, objs))["secret-target-namespace"]; got != "reports" {
		t.Errorf("--secret-target-namespace=%q, want reports", got)
	}
	found := map[string]bool{}
	for _, o := range objs {
		if strings.HasSuffix(o.GetName(), "-secret-target") {
			found[o.GetKind()] = true
			if o.GetNamespace() != "reports" {
				t.Errorf("%s %s in namespace %q, want reports", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
	if !found["Role"] || !found["RoleBinding"] {
		t.Errorf("target Role and RoleBinding rendered: %v", found)
	}
	// The release namespace itself is no target: nothing extra.
	for _, o := range render(t, release{set: []string{"exporters.secret.namespace=" + releaseNamespace}}) {
		if strings.HasSuffix(o.GetName(), "-secret-target") {
			t.Errorf("%s %s rendered for the release namespace", o.GetKind(), o.GetName())
		}
	}
}

// TestSecretRequestRolesLiveInTheTargetNamespaces: each namespace of
// secretRequests.namespaces gets a Role and RoleBinding of its own, bound
// to the manager's ServiceAccount; none is rendered elsewhere.
func TestSecretRequestRolesLiveInTheTargetNamespaces(t *testing.T) {
	objs := render(t, release{set: []string{"secretRequests.namespaces={cattle-scc-system,team-a}"}})
	got := map[string][]string{}
	for _, o := range objs {
		if strings.HasSuffix(o.GetName(), "-secret-request") {
			got[o.GetKind()] = append(got[o.GetKind()], o.GetNamespace())
		}
	}
	want := []string{"cattle-scc-system", "team-a"}
	for _, kind := range []string{"Role", "RoleBinding"} {
		sort.Strings(got[kind])
		if !slices.Equal(got[kind], want) {
			t.Errorf("%s in namespaces %v, want %v", kind, got[kind], want)
		}
	}
	if objs := render(t, release{}); slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return strings.HasSuffix(o.GetName(), "-secret-request") }) {
		t.Error("the defaults render a SecretRequest Role: no namespace is listed")
	}
}
