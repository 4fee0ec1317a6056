package manager

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRetryKindReadFromError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		kind      RetryKind
		requested time.Duration
	}{
		{"success", nil, KindNone, 0},
		{"plain error backs off", errBoom, KindBackoff, 0},
		{"retry-after", RetryAfter(30*time.Second, errBoom), KindRetryAfter, 30 * time.Second},
		{"retry-after wrapped by the exporter", fmt.Errorf("posting to collector: %w", RetryAfter(time.Minute, errBoom)), KindRetryAfter, time.Minute},
		{"retry-after in a joined error", errors.Join(errors.New("other"), RetryAfter(time.Minute, errBoom)), KindRetryAfter, time.Minute},
		{"retry-after of zero backs off", RetryAfter(0, errBoom), KindBackoff, 0},
		{"negative retry-after backs off", RetryAfter(-time.Second, errBoom), KindBackoff, 0},
		{"permanent", Permanent(errBoom), KindPermanent, 0},
		{"permanent wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", Permanent(errBoom))), KindPermanent, 0},
		{"outermost kind wins", Permanent(RetryAfter(time.Minute, errBoom)), KindPermanent, 0},
		{"panic with a permanent error is plain", &PanicError{ID: "x", Value: Permanent(errBoom)}, KindBackoff, 0},
		{"wrapped panic with a retry-after is plain", fmt.Errorf("run: %w", &PanicError{ID: "x", Value: RetryAfter(time.Minute, errBoom)}), KindBackoff, 0},
		{"RetryError of an unknown kind backs off", &RetryError{Kind: "sometimes", Err: errBoom}, KindBackoff, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, requested := retryKind(tc.err)
			if kind != tc.kind || requested != tc.requested {
				t.Errorf("retryKind(%v) = %q, %v; want %q, %v", tc.err, kind, requested, tc.kind, tc.requested)
			}
		})
	}
}

func TestRetryErrorWrapsTheExporterError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		kind RetryKind
	}{
		{"retry-after", RetryAfter(time.Minute, errBoom), KindRetryAfter},
		{"permanent", Permanent(errBoom), KindPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrapped := fmt.Errorf("exporter http: %w", tc.err)
			if !errors.Is(wrapped, errBoom) {
				t.Errorf("%v does not wrap errBoom", wrapped)
			}
			var r *RetryError
			if !errors.As(wrapped, &r) || r.Kind != tc.kind {
				t.Fatalf("errors.As found %+v, want a *RetryError of kind %q", r, tc.kind)
			}
			// The kind is shown in Status and the log, not in the text.
			if got := tc.err.Error(); got != errBoom.Error() {
				t.Errorf("Error() = %q, want the wrapped error's %q", got, errBoom.Error())
			}
		})
	}
}

func TestRetryHelpersKeepSuccess(t *testing.T) {
	if err := RetryAfter(time.Minute, nil); err != nil {
		t.Errorf("RetryAfter(1m, nil) = %v, want nil", err)
	}
	if err := Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
}
