package events

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Defaults of ConfigMapStore.
const (
	// DefaultConfigMapName is the ConfigMap the events are saved in.
	DefaultConfigMapName = "telemetry-events"
	// StateKey is its data key, holding the State as JSON.
	StateKey = "events.json"
)

// ConfigMapStore saves the State in a ConfigMap, under StateKey. It holds
// only pseudonyms, versions and counts. Only the replica that exports
// writes it; each write carries the resourceVersion it last read or wrote,
// and a conflict (someone else wrote it) is answered by reading it again
// and overwriting.
type ConfigMapStore struct {
	Client    typedcorev1.ConfigMapsGetter
	Namespace string
	Name      string

	exists bool   // the ConfigMap was there when last read or written
	rv     string // its resourceVersion then
}

// Load reads the State; a missing ConfigMap or key is no state.
func (s *ConfigMapStore) Load(ctx context.Context) (*State, error) {
	cm, err := s.Client.ConfigMaps(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.exists, s.rv = false, ""
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", s.Namespace, s.Name, err)
	}
	s.exists, s.rv = true, cm.ResourceVersion
	raw, ok := cm.Data[StateKey]
	if !ok {
		return nil, nil
	}
	var st State
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		// A broken state is no reason to stop recording: the next save
		// replaces it. Said once, loudly.
		return &State{Version: -1}, nil
	}
	return &st, nil
}

// Save writes the State.
func (s *ConfigMapStore) Save(ctx context.Context, st *State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	cms := s.Client.ConfigMaps(s.Namespace)
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "telemetry", "app.kubernetes.io/managed-by": "telemetry-manager"},
		},
		Data: map[string]string{StateKey: string(raw)},
	}
	for attempt := 0; ; attempt++ {
		var got *corev1.ConfigMap
		want.ResourceVersion = s.rv
		if !s.exists {
			got, err = cms.Create(ctx, want, metav1.CreateOptions{FieldManager: "telemetry-manager"})
		} else {
			got, err = cms.Update(ctx, want, metav1.UpdateOptions{FieldManager: "telemetry-manager"})
		}
		if err == nil {
			s.exists, s.rv = true, got.ResourceVersion
			return nil
		}
		if attempt > 0 || !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("writing ConfigMap %s/%s: %w", s.Namespace, s.Name, err)
		}
		// Written or deleted by someone else since: take its version.
		cur, gerr := cms.Get(ctx, s.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			s.exists, s.rv = false, ""
		case gerr != nil:
			return fmt.Errorf("writing ConfigMap %s/%s: %w", s.Namespace, s.Name, gerr)
		default:
			s.exists, s.rv = true, cur.ResourceVersion
		}
	}
}
