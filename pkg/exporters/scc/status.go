package scc

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// States of the registration, in Status.State and the metric
// telemetry_manager_scc_state.
const (
	StateUnregistered        = "unregistered"
	StateRegistering         = "registering"
	StateRegistered          = "registered"
	StateOfflineRequestReady = "offline-request-ready"
	StateOfflineRegistered   = "offline-registered"
	StateExpired             = "expired"
	StateFailed              = "failed"
)

// States lists every state.
var States = []string{
	StateUnregistered, StateRegistering, StateRegistered, StateOfflineRequestReady,
	StateOfflineRegistered, StateExpired, StateFailed,
}

// Modes of the registration, from key registrationType.
const (
	ModeOnline  = "online"
	ModeOffline = "offline"
)

// Status is the registration as the status ConfigMap holds it, one data key
// per field under its JSON name. Times are RFC 3339; empty fields are unknown.
type Status struct {
	Mode          string `json:"mode"`
	State         string `json:"state"`
	SystemID      string `json:"systemID"`
	Product       string `json:"product"`
	ExpiresAt     string `json:"expiresAt"`
	LastKeepalive string `json:"lastKeepalive"`
	LastError     string `json:"lastError"`
	// Warning says what needs attention soon, such as a certificate that
	// expires within 30 days.
	Warning string `json:"warning,omitempty"`
}

func (s Status) toMap() map[string]string {
	m := map[string]string{
		"mode": s.Mode, "state": s.State, "systemID": s.SystemID, "product": s.Product,
		"expiresAt": s.ExpiresAt, "lastKeepalive": s.LastKeepalive, "lastError": s.LastError,
	}
	if s.Warning != "" {
		m["warning"] = s.Warning
	}
	return m
}

func statusFromMap(m map[string]string) Status {
	return Status{
		Mode: m["mode"], State: m["state"], SystemID: m["systemID"], Product: m["product"],
		ExpiresAt: m["expiresAt"], LastKeepalive: m["lastKeepalive"], LastError: m["lastError"], Warning: m["warning"],
	}
}

// ReadStatus reads the status ConfigMap of the SCC namespace. A missing one
// reads as unregistered.
func ReadStatus(ctx context.Context, c corev1client.ConfigMapsGetter, namespace string) (Status, error) {
	cm, err := c.ConfigMaps(namespace).Get(ctx, StatusConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Status{State: StateUnregistered}, nil
	case err != nil:
		return Status{}, fmt.Errorf("reading configmap %s/%s: %w", namespace, StatusConfigMapName, err)
	}
	return statusFromMap(cm.Data), nil
}

// writeStatus writes s into the status ConfigMap when it differs.
func writeStatus(ctx context.Context, c corev1client.ConfigMapsGetter, namespace string, s Status) error {
	client := c.ConfigMaps(namespace)
	cm, err := client.Get(ctx, StatusConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: StatusConfigMapName, Namespace: namespace, Labels: map[string]string{LabelPartOf: PartOf}},
			Data:       s.toMap(),
		}
		if _, err := client.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating configmap %s/%s: %w", namespace, StatusConfigMapName, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading configmap %s/%s: %w", namespace, StatusConfigMapName, err)
	}
	if maps.Equal(cm.Data, s.toMap()) {
		return nil
	}
	cm.Data = s.toMap()
	if _, err := client.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating configmap %s/%s: %w", namespace, StatusConfigMapName, err)
	}
	return nil
}
