package secretrequest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
)

func TestCheckAccess(t *testing.T) {
	refuse := func(err error) *fake.Clientset {
		c := fake.NewClientset()
		c.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
		return c
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC"))
	t.Run("allowed", func(t *testing.T) {
		if err := CheckAccess(context.Background(), fake.NewClientset().CoreV1(), "ns"); err != nil {
			t.Fatalf("CheckAccess = %v", err)
		}
	})
	t.Run("forbidden is a problem of the request", func(t *testing.T) {
		err := CheckAccess(context.Background(), refuse(forbidden).CoreV1(), "ns")
		if !errors.Is(err, ErrNoAccess) || !IsInvalid(err) {
			t.Fatalf("CheckAccess = %v, want ErrNoAccess", err)
		}
		if !strings.Contains(err.Error(), `spec.targetSecretRef.namespace "ns": telemetry-manager may not list Secrets there`) {
			t.Errorf("message %q does not say what is wrong", err)
		}
	})
	t.Run("other errors are retried", func(t *testing.T) {
		err := CheckAccess(context.Background(), refuse(apierrors.NewServiceUnavailable("down")).CoreV1(), "ns")
		if err == nil || IsInvalid(err) {
			t.Fatalf("CheckAccess = %v, want an error to retry", err)
		}
	})
}

func TestSetConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Hour))
	want := map[string]map[string]metav1.ConditionStatus{
		stateReady:    {telemetryv1.ConditionProgressing: "False", telemetryv1.ConditionDone: "True", telemetryv1.ConditionFailure: "False", telemetryv1.ConditionReady: "True"},
		stateRetrying: {telemetryv1.ConditionProgressing: "True", telemetryv1.ConditionDone: "False", telemetryv1.ConditionFailure: "True", telemetryv1.ConditionReady: "False"},
		stateInvalid:  {telemetryv1.ConditionProgressing: "False", telemetryv1.ConditionDone: "False", telemetryv1.ConditionFailure: "True", telemetryv1.ConditionReady: "False"},
	}
	for state, conds := range want {
		t.Run(state, func(t *testing.T) {
			var st telemetryv1.SecretRequestStatus
			setConditions(&st, 3, state, "the message", t0)
			if len(st.Conditions) != 4 {
				t.Fatalf("%d conditions, want 4", len(st.Conditions))
			}
			for _, c := range st.Conditions {
				if c.Status != conds[c.Type] || c.ObservedGeneration != 3 {
					t.Errorf("%s = %s (generation %d), want %s (3)", c.Type, c.Status, c.ObservedGeneration, conds[c.Type])
				}
				if c.Type == telemetryv1.ConditionFailure && (c.Status == "True") != (c.Message == "the message") {
					t.Errorf("Failure %s has message %q", c.Status, c.Message)
				}
			}
			// The same state again changes nothing, times included.
			before := st.DeepCopy()
			setConditions(&st, 3, state, "the message", t1)
			if !equalStatus(before, &st) {
				t.Errorf("the same state rewrote the status: %+v, then %+v", before, st)
			}
		})
	}
}

func TestServed(t *testing.T) {
	tests := []struct {
		name      string
		resources []*metav1.APIResourceList
		want      bool
	}{
		{"no group", nil, false},
		{"group without the resource", []*metav1.APIResourceList{{GroupVersion: "telemetry.cattle.io/v1", APIResources: []metav1.APIResource{{Name: "others"}}}}, false},
		{"served", []*metav1.APIResourceList{{GroupVersion: "telemetry.cattle.io/v1", APIResources: []metav1.APIResource{{Name: "secretrequests", Kind: "SecretRequest"}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			c.Resources = tt.resources
			got, err := Served(c.Discovery())
			if err != nil || got != tt.want {
				t.Fatalf("Served = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
