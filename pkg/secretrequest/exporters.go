package secretrequest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// serving keeps the scc payload in the target of a valid request.
type serving struct {
	r      *reconciler
	name   string
	spec   telemetryv1.SecretRequestSpec
	secret *secret.Exporter
}

// Export records the target on the request (with the finalizer), writes
// the Secret, removes the Secrets written for an earlier target, and
// reports the result in the status.
func (e *serving) Export(ctx context.Context, s *snapshot.Snapshot) error {
	req, err := e.r.fresh(e.name)
	if req == nil || req.DeletionTimestamp != nil || req.Spec != e.spec {
		// Gone, going or changed: the handler replaces this exporter.
		return err
	}
	target := refKey(e.spec.TargetSecretRef)
	if err := e.r.policy.Check(ctx, e.spec.TargetSecretRef.Namespace); err != nil {
		if IsInvalid(err) {
			// The namespace left the policy: the handler decides anew.
			e.r.requests.Enqueue(e.name)
			return nil
		}
		return err
	}
	written := writtenSecrets(req)
	if req, err = e.r.record(req, union(written, target)); err != nil {
		return err
	}
	if err := e.secret.Export(ctx, s); err != nil {
		e.r.writeStatus(req, stateRetrying, err.Error())
		return err
	}
	// The Secret of an earlier target goes once the new one is written.
	left, err := e.r.remove(ctx, e.name, without(written, target))
	updated, rerr := e.r.record(req, union(left, target))
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	if err != nil {
		e.r.writeStatus(updated, stateRetrying, err.Error())
		return err
	}
	e.r.writeStatus(updated, stateReady, "secret "+target+" holds the scc payload")
	return nil
}

// failing reports what is wrong with an invalid request, and removes the
// Secrets written for it while it was valid.
type failing struct {
	r    *reconciler
	name string
	spec telemetryv1.SecretRequestSpec
}

// Export checks the request again (the policy may have changed), writes
// the Failure condition and returns a permanent error: no retry before the
// next interval or a change.
func (e *failing) Export(ctx context.Context, _ *snapshot.Snapshot) error {
	req, err := e.r.fresh(e.name)
	if req == nil || req.DeletionTimestamp != nil || req.Spec != e.spec {
		return err
	}
	problem := e.r.check(ctx, e.name, req.Spec)
	switch {
	case problem == nil:
		// Valid now: the handler registers the exporter that writes.
		e.r.requests.Enqueue(e.name)
		return nil
	case !IsInvalid(problem):
		return problem
	}
	left, err := e.r.remove(ctx, e.name, writtenSecrets(req))
	if err != nil {
		return err
	}
	if req, err = e.r.record(req, left); err != nil {
		return err
	}
	e.r.writeStatus(req, stateInvalid, problem.Error())
	return manager.Permanent(fmt.Errorf("secretrequest %s: %w", e.name, problem))
}

// finalizing removes the Secrets written for a deleted request, then its
// finalizer. It replaced the request's writing exporter, whose last run
// has finished: nothing writes the Secrets back.
type finalizing struct {
	r    *reconciler
	name string
}

// Export removes the Secrets, then the finalizer.
func (e *finalizing) Export(ctx context.Context, _ *snapshot.Snapshot) error {
	req, err := e.r.fresh(e.name)
	if req == nil || !slices.Contains(req.Finalizers, Finalizer) {
		return err
	}
	if _, err := e.r.remove(ctx, e.name, writtenSecrets(req)); err != nil {
		return err
	}
	req = req.DeepCopy()
	req.Finalizers = slices.DeleteFunc(req.Finalizers, func(f string) bool { return f == Finalizer })
	delete(req.Annotations, AnnotationWritten)
	if _, err := e.r.requests.Update(req); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("secretrequest %s: removing finalizer %s: %w", e.name, Finalizer, err)
	}
	e.r.logger(e.name).Info("SecretRequest deleted: its Secrets are removed")
	return nil
}

// fresh reads the request from the API server, not the cache: a run acts
// on what the request says now. A request that is gone is nil, nil.
func (r *reconciler) fresh(name string) (*telemetryv1.SecretRequest, error) {
	req, err := r.requests.Get(name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading secretrequest %s: %w", name, err)
	}
	return req, nil
}

// record makes the request list the Secrets in written, with the finalizer
// while it lists any (or had it already), and returns it as updated.
func (r *reconciler) record(req *telemetryv1.SecretRequest, written []string) (*telemetryv1.SecretRequest, error) {
	want := strings.Join(written, ",")
	has := slices.Contains(req.Finalizers, Finalizer)
	if req.Annotations[AnnotationWritten] == want && (has || len(written) == 0) {
		return req, nil
	}
	req = req.DeepCopy()
	if !has {
		req.Finalizers = append(req.Finalizers, Finalizer)
	}
	if want == "" {
		delete(req.Annotations, AnnotationWritten)
	} else {
		if req.Annotations == nil {
			req.Annotations = map[string]string{}
		}
		req.Annotations[AnnotationWritten] = want
	}
	updated, err := r.requests.Update(req)
	if err != nil {
		return nil, fmt.Errorf("secretrequest %s: recording its Secrets %q: %w", req.Name, want, err)
	}
	return updated, nil
}

// remove deletes the Secrets in refs that telemetry-manager wrote, and
// returns those it could not remove with the first error. A Secret already
// gone, or no longer labelled as written by telemetry-manager, is dropped;
// so is one in a namespace it may no longer delete in (logged).
func (r *reconciler) remove(ctx context.Context, name string, refs []string) ([]string, error) {
	var left []string
	var first error
	for _, ref := range refs {
		ns, n, _ := strings.Cut(ref, "/")
		err := r.deleteSecret(ctx, ns, n)
		switch {
		case err == nil:
			r.logger(name).WithField("secret", ref).Info("removed Secret no longer requested")
		case apierrors.IsNotFound(err):
		case apierrors.IsForbidden(err):
			r.logger(name).WithField("secret", ref).WithError(err).Warn("cannot remove Secret no longer requested: delete it by hand")
		default:
			left = append(left, ref)
			if first == nil {
				first = fmt.Errorf("secretrequest %s: removing secret %s: %w", name, ref, err)
			}
		}
	}
	return left, first
}

func (r *reconciler) deleteSecret(ctx context.Context, namespace, name string) error {
	secrets := r.h.Sources.Kube.CoreV1().Secrets(namespace)
	cur, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.Labels[secret.LabelManagedBy] != secret.FieldManager {
		return nil // someone else's now
	}
	return secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
}

// States of a request, as its conditions show them.
const (
	stateReady    = "ready"
	stateRetrying = "retrying"
	stateInvalid  = "invalid"
)

// writeStatus sets the conditions of state (and lastSyncTS when ready),
// and writes the status when it changed. A failed write is logged: the
// next run writes it again.
func (r *reconciler) writeStatus(req *telemetryv1.SecretRequest, state, message string) {
	// Stored times have seconds.
	now := metav1.NewTime(r.cfg.Clock.Now().Truncate(time.Second))
	st := req.Status.DeepCopy()
	setConditions(st, req.Generation, state, message, now)
	if state == stateReady {
		st.LastSyncTS = &now
	}
	if equalStatus(&req.Status, st) {
		return
	}
	req = req.DeepCopy()
	req.Status = *st
	if _, err := r.requests.UpdateStatus(req); err != nil {
		r.logger(req.Name).WithError(err).Warn("writing SecretRequest status")
	}
}

// setConditions sets the four conditions of a state.
func setConditions(st *telemetryv1.SecretRequestStatus, gen int64, state, message string, now metav1.Time) {
	type cond struct {
		typ    string
		status bool
		reason string
		msg    string
	}
	var cs []cond
	switch state {
	case stateReady:
		cs = []cond{
			{telemetryv1.ConditionProgressing, false, "Synced", ""},
			{telemetryv1.ConditionDone, true, "Synced", message},
			{telemetryv1.ConditionFailure, false, "Synced", ""},
			{telemetryv1.ConditionReady, true, "Synced", message},
		}
	case stateRetrying:
		cs = []cond{
			{telemetryv1.ConditionProgressing, true, "Retrying", "the write is retried with backoff"},
			{telemetryv1.ConditionDone, false, "WriteFailed", ""},
			{telemetryv1.ConditionFailure, true, "WriteFailed", message},
			{telemetryv1.ConditionReady, false, "WriteFailed", message},
		}
	default:
		cs = []cond{
			{telemetryv1.ConditionProgressing, false, "Invalid", ""},
			{telemetryv1.ConditionDone, false, "Invalid", ""},
			{telemetryv1.ConditionFailure, true, "Invalid", message},
			{telemetryv1.ConditionReady, false, "Invalid", message},
		}
	}
	for _, c := range cs {
		s := metav1.ConditionFalse
		if c.status {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: c.typ, Status: s, Reason: c.reason, Message: c.msg,
			ObservedGeneration: gen, LastTransitionTime: now,
		})
	}
}

// equalStatus compares two statuses, times to the second as they are stored.
func equalStatus(a, b *telemetryv1.SecretRequestStatus) bool {
	if len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message ||
			x.ObservedGeneration != y.ObservedGeneration || !x.LastTransitionTime.Equal(&y.LastTransitionTime) {
			return false
		}
	}
	switch {
	case a.LastSyncTS == nil || b.LastSyncTS == nil:
		return a.LastSyncTS == b.LastSyncTS
	default:
		return a.LastSyncTS.Equal(b.LastSyncTS)
	}
}

func refKey(ref telemetryv1.SecretReference) string { return ref.Namespace + "/" + ref.Name }

// writtenSecrets returns the Secrets the request lists as written.
func writtenSecrets(req *telemetryv1.SecretRequest) []string {
	v := req.Annotations[AnnotationWritten]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func union(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(slices.Clone(list), s)
}

func without(list []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(x string) bool { return x == s })
}
