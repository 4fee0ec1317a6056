// Package optout follows the runtime opt-out switch: the key "disabled" of a
// ConfigMap in the telemetry namespace stops and resumes exporting without a
// restart.
package optout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rancher/wrangler/v3/pkg/generic"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/rancher/telemetry-manager/pkg/options"
)

// Key is the key of the switch ConfigMap: "true" disables telemetry.
const Key = options.SwitchKey

// ErrSwitchValue means the switch ConfigMap's key "disabled" is neither
// "true" nor "false".
var ErrSwitchValue = errors.New("invalid value")

// switchState returns whether telemetry is enabled by the switch ConfigMap
// cm (nil when it does not exist). A missing ConfigMap or key means enabled;
// "true" or "false" (in any case, blanks trimmed) in the key disabled decide;
// any other value is an error and leaves the previous state, prev.
func switchState(cm *corev1.ConfigMap, prev bool) (enabled bool, err error) {
	if cm == nil {
		return true, nil
	}
	v, ok := cm.Data[Key]
	if !ok {
		return true, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return false, nil
	case "false":
		return true, nil
	}
	return prev, fmt.Errorf("ConfigMap %s/%s key %s is %q, want \"true\" or \"false\": %w", cm.Namespace, cm.Name, Key, v, ErrSwitchValue)
}

// StateName returns "enabled" or "disabled", as logs and metrics say.
func StateName(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

// Switch follows the runtime opt-out ConfigMap. It runs on every replica, so
// each one logs and reports the state, but only the exporting one acts on it.
type Switch struct {
	namespace, name string
	cache           generic.CacheInterface[*corev1.ConfigMap]
	log             *logrus.Entry
	// onChange is called with the first known state and every change.
	onChange func(enabled bool)

	registration toolscache.ResourceEventHandlerRegistration
	// synced is closed once the state is known.
	synced chan struct{}
	// changed holds at most one pending change notice.
	changed chan struct{}

	mu      sync.Mutex
	known   bool
	enabled bool
}

// New follows the ConfigMap namespace/name in the cache of inf.
func New(inf toolscache.SharedIndexInformer, cache generic.CacheInterface[*corev1.ConfigMap], namespace, name string, log *logrus.Entry, onChange func(bool)) (*Switch, error) {
	s := &Switch{
		namespace: namespace, name: name, cache: cache, onChange: onChange,
		log:     log.WithField("configMap", namespace+"/"+name),
		synced:  make(chan struct{}),
		changed: make(chan struct{}, 1),
		enabled: true,
	}
	ours := func(obj any) bool {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := meta.Accessor(obj)
		return err == nil && m.GetNamespace() == namespace && m.GetName() == name
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ours(obj) {
				s.refresh(false)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, err1 := meta.Accessor(oldObj)
			n, err2 := meta.Accessor(newObj)
			if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
				return // a resync: nothing to log again
			}
			if ours(newObj) {
				s.refresh(false)
			}
		},
		DeleteFunc: func(obj any) {
			if ours(obj) {
				s.refresh(false)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching ConfigMap %s/%s: %w", namespace, name, err)
	}
	s.registration = reg
	return s, nil
}

// Run waits until the ConfigMap cache has synced, then makes the state known.
// Start the caches before or after; Run returns early when ctx ends.
func (s *Switch) Run(ctx context.Context) {
	if !toolscache.WaitForCacheSync(ctx.Done(), s.registration.HasSynced) {
		return
	}
	s.refresh(true)
}

// Synced is closed once the state is known.
func (s *Switch) Synced() <-chan struct{} { return s.synced }

// Changed receives a value after the state changed; read Enabled then.
func (s *Switch) Changed() <-chan struct{} { return s.changed }

// Enabled reports the state; before Synced it is true.
func (s *Switch) Enabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enabled
}

// refresh reads the ConfigMap from the cache and records the state. Events
// before the first, initial, refresh are ignored: the cache is still filling.
func (s *Switch) refresh(initial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known && !initial {
		return
	}
	cm, err := s.cache.Get(s.namespace, s.name)
	switch {
	case apierrors.IsNotFound(err):
		cm = nil
	case err != nil:
		// A cache read fails only for a missing object; keep the state.
		s.log.WithError(err).Error("reading the telemetry switch")
		return
	}
	enabled, err := switchState(cm, s.enabled)
	if err != nil {
		s.log.WithError(err).WithField("telemetry", StateName(enabled)).Error("ignoring the telemetry switch")
	}
	first := !s.known
	if !first && enabled == s.enabled {
		return
	}
	s.known, s.enabled = true, enabled
	log := s.log.WithField("telemetry", StateName(enabled))
	switch {
	case first && cm == nil:
		log.Info("telemetry switch: no ConfigMap, telemetry is enabled")
	case first:
		log.Info("telemetry switch read")
	default:
		log.Info("telemetry switch changed")
	}
	if s.onChange != nil {
		s.onChange(enabled)
	}
	if first {
		close(s.synced)
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}
