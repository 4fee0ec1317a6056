package manager

import (
	"errors"
	"fmt"
	"time"
)

// RetryKind says how the manager retries after a run. It is shown in Status
// and in the log entries of failed runs.
type RetryKind string

// The retry kinds. The kind of a run is read from its error: see RetryAfter
// and Permanent.
const (
	// KindNone is the kind of a successful run: the next run is due an
	// interval later, with jitter.
	KindNone RetryKind = ""
	// KindBackoff is the kind of a plain error: the retry comes after a
	// capped exponential backoff with jitter, and Triggers do not shorten it.
	KindBackoff RetryKind = "backoff"
	// KindRetryAfter is the kind of an error made by RetryAfter: the retry
	// comes after the delay the error gives, capped, without doubling and
	// without jitter. Triggers do not shorten it.
	KindRetryAfter RetryKind = "retry-after"
	// KindPermanent is the kind of an error made by Permanent: there is no
	// retry until the next interval, but a Trigger runs the exporter early,
	// as after a success.
	KindPermanent RetryKind = "permanent"
)

// RetryError is an exporter error that says how to retry it. Make one with
// RetryAfter or Permanent; the manager finds it with errors.As, so it may be
// wrapped further with %w.
type RetryError struct {
	// Kind is KindRetryAfter or KindPermanent.
	Kind RetryKind
	// After is how long to wait before the retry, for KindRetryAfter.
	After time.Duration
	// Err is the failure itself.
	Err error
}

// Error returns the text of the wrapped error: the kind is not part of it,
// so that a retried failure reads the same as a plain one.
func (e *RetryError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("export failed (%s)", e.Kind)
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter marks err as one to retry after d, for example a 429 or 503
// response with a Retry-After header. The manager waits d, capped at
// Options.RetryAfterMax and at the exporter's interval; a d that is not
// positive makes err a plain error, retried with backoff. RetryAfter(d, nil)
// is nil.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &RetryError{Kind: KindRetryAfter, After: d, Err: err}
}

// Permanent marks err as one that a retry with the same payload cannot fix,
// for example a 4xx response: the manager does not retry it until the next
// interval, or until a Trigger says the payload may have changed.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &RetryError{Kind: KindPermanent, Err: err}
}

// retryKind returns how to retry after an Export that returned err, and for
// KindRetryAfter the delay asked for. A panic is a plain failure whatever
// value it carried.
func retryKind(err error) (RetryKind, time.Duration) {
	if err == nil {
		return KindNone, 0
	}
	var p *PanicError
	if errors.As(err, &p) {
		return KindBackoff, 0
	}
	var r *RetryError
	if !errors.As(err, &r) {
		return KindBackoff, 0
	}
	switch {
	case r.Kind == KindPermanent:
		return KindPermanent, 0
	case r.Kind == KindRetryAfter && r.After > 0:
		return KindRetryAfter, r.After
	}
	return KindBackoff, 0
}
