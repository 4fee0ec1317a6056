package optout

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSwitchState(t *testing.T) {
	cm := func(data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "telemetry-manager"}, Data: data}
	}
	for _, tc := range []struct {
		name    string
		cm      *corev1.ConfigMap
		prev    bool
		enabled bool
		invalid bool
	}{
		{"missing ConfigMap is enabled", nil, false, true, false},
		{"missing key is enabled", cm(map[string]string{"other": "x"}), false, true, false},
		{"true disables", cm(map[string]string{"disabled": "true"}), true, false, false},
		{"false enables", cm(map[string]string{"disabled": "false"}), false, true, false},
		{"case and blanks ignored", cm(map[string]string{"disabled": " TRUE\n"}), true, false, false},
		{"invalid keeps enabled", cm(map[string]string{"disabled": "yes"}), true, true, true},
		{"invalid keeps disabled", cm(map[string]string{"disabled": "1"}), false, false, true},
		{"empty is invalid", cm(map[string]string{"disabled": ""}), false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enabled, err := switchState(tc.cm, tc.prev)
			if enabled != tc.enabled {
				t.Errorf("enabled = %v, want %v", enabled, tc.enabled)
			}
			if got := errors.Is(err, ErrSwitchValue); got != tc.invalid {
				t.Errorf("err = %v, want invalid %v", err, tc.invalid)
			}
		})
	}
}
