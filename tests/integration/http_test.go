package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// collectorStub verifies each report's token and signature with the keys it
// is given, as a collector does, and records which key verified it.
type collectorStub struct {
	mu      sync.Mutex
	keys    map[string][]byte // by name
	token   string
	got     []stubReport
	refused []string
}

type stubReport struct {
	key    string // name of the key that verified the signature
	report report.Report
}

func (c *collectorStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, `{"error":"reading body"}`, http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	refuse := func(code int, why string) {
		c.refused = append(c.refused, why)
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(protocol.Error{Error: why})
	}
	if r.Header.Get("Authorization") != "Bearer "+c.token {
		refuse(http.StatusUnauthorized, "bad token")
		return
	}
	verifiedBy := ""
	for name, k := range c.keys {
		if protocol.Verify(r.Header.Get(protocol.HeaderSignature), body, time.Now(), [][]byte{k}) == nil {
			verifiedBy = name
		}
	}
	if verifiedBy == "" {
		refuse(http.StatusUnauthorized, "bad signature")
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		refuse(http.StatusBadRequest, "not gzip")
		return
	}
	payload, err := io.ReadAll(zr)
	if err != nil {
		refuse(http.StatusBadRequest, "bad gzip")
		return
	}
	if r.Header.Get(protocol.HeaderIdempotencyKey) != protocol.IdempotencyKey(payload) {
		refuse(http.StatusBadRequest, "idempotency key is not the payload's")
		return
	}
	var rep report.Report
	if err := json.Unmarshal(payload, &rep); err != nil {
		refuse(http.StatusBadRequest, "payload: "+err.Error())
		return
	}
	c.got = append(c.got, stubReport{key: verifiedBy, report: rep})
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"id":"1","duplicate":false}`)
}

// lastKey returns the name of the key that verified the latest report.
func (c *collectorStub) lastKey() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		return "", 0
	}
	return c.got[len(c.got)-1].key, len(c.got)
}

// TestHTTPExporterSignsWithTheRotatedKey: the controller with the secret
// and http exporters sends the sample's report to a collector that checks
// token and signature; a missing credentials Secret is a permanent error
// naming it; a rotated signingKey signs the next export, without restart.
func TestHTTPExporterSignsWithTheRotatedKey(t *testing.T) {
	key1, key2 := []byte("first-signing-key-0123456789"), []byte("second-signing-key-0123456789")
	stub := &collectorStub{keys: map[string][]byte{"key1": key1, "key2": key2}, token: "tok-1"}
	srv := httptest.NewServer(stub)
	defer srv.Close()

	o := options(t)
	o.Exporters = "secret,http"
	o.HTTP.URL = srv.URL + protocol.DefaultPath
	o.HTTP.Secret = "http-credentials"
	o.Intervals["http"] = 2 * time.Second
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.SecretNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := start(t, env.Config, o)

	eventually(t, "a permanent error naming the missing Secret", func() (bool, error) {
		st, _ := c.Manager.Status("http")
		var r *manager.RetryError
		return st.RetryKind == manager.KindPermanent && errors.As(st.LastError, &r) &&
			strings.Contains(st.LastError.Error(), o.SecretNamespace+"/http-credentials"), st.LastError
	})

	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.SecretNamespace, Name: "http-credentials"},
		StringData: map[string]string{"token": "tok-1", "signingKey": string(key1)},
	}
	if _, err := kube.CoreV1().Secrets(o.SecretNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var n int
	eventually(t, "a report signed with the first key", func() (bool, error) {
		k, count := stub.lastKey()
		n = count
		return k == "key1", nil
	})
	stub.mu.Lock()
	if got := stub.got[0].report.Totals; got != sampleTotals {
		t.Errorf("totals sent = %+v, want %+v", got, sampleTotals)
	}
	stub.mu.Unlock()

	sec.StringData = map[string]string{"token": "tok-1", "signingKey": string(key2)}
	if _, err := kube.CoreV1().Secrets(o.SecretNamespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a report signed with the rotated key", func() (bool, error) {
		k, count := stub.lastKey()
		return k == "key2" && count > n, nil
	})
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.refused) > 0 {
		t.Errorf("the collector refused %v", stub.refused)
	}
}

// TestCredentialsSecretReadableByNameOnly: the RBAC the chart grants for
// the credentials Secret (get, list and watch on its name) lets the cache
// list and watch it with the field selector metadata.name=<name>, and
// nothing else.
func TestCredentialsSecretReadableByNameOnly(t *testing.T) {
	ctx := context.Background()
	ns := options(t).SecretNamespace
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "http-credentials-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
			ResourceNames: []string{"http-credentials"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "http-credentials-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "http-credentials-reader"}},
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "http-credentials-reader"}
	reader, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	byName := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "http-credentials").String()}
	eventually(t, "the list by name to be allowed", func() (bool, error) { // RBAC caches settle
		_, err := reader.CoreV1().Secrets(ns).List(ctx, byName)
		return err == nil, err
	})
	w, err := reader.CoreV1().Secrets(ns).Watch(ctx, byName)
	if err != nil {
		t.Fatalf("watch by name: %v", err)
	}
	w.Stop()
	if _, err := reader.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list of every Secret = %v, want Forbidden", err)
	}
	other := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "telemetry-identity").String()}
	if _, err := reader.CoreV1().Secrets(ns).List(ctx, other); !apierrors.IsForbidden(err) {
		t.Fatalf("list of another Secret by name = %v, want Forbidden", err)
	}
}
