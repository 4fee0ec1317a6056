package run

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(o *Options)
		want   []string // each must appear in the error; none means valid
	}{
		{"defaults are valid", func(*Options) {}, nil},
		{"leader election on with defaults", func(o *Options) { o.LeaderElect = true }, nil},
		{"short test timings", func(o *Options) {
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 300*time.Millisecond
		}, nil},
		{"http disabled", func(o *Options) { o.HTTPAddress = "" }, nil},
		{"http on a free port", func(o *Options) { o.HTTPAddress = "127.0.0.1:0" }, nil},
		{"renew not below lease", func(o *Options) { o.RenewDeadline = o.LeaseDuration }, []string{"--leader-election-renew-deadline 15s: must be less than --leader-election-lease-duration 15s"}},
		{"retry not below renew", func(o *Options) { o.RetryPeriod = o.RenewDeadline }, []string{"--leader-election-retry-period 10s"}},
		{"retry above renew over jitter", func(o *Options) { o.RetryPeriod = 9 * time.Second }, []string{"--leader-election-retry-period 9s"}},
		{"non-positive timing", func(o *Options) { o.RetryPeriod = 0 }, []string{"must all be positive"}},
		{"bad http address", func(o *Options) { o.HTTPAddress = "8080" }, []string{"--http-address \"8080\""}},
		{"bad names", func(o *Options) {
			o.ConfigMapName, o.LeaderElectionID, o.LeaderElectionNamespace = "Bad_Name", "", "a.b"
		}, []string{"--config-map-name", "--leader-election-id", "--leader-election-namespace"}},
		{"every problem at once", func(o *Options) {
			o.Mode, o.RenewDeadline, o.HTTPAddress = "x", time.Minute, "nope"
		}, []string{"--mode", "--leader-election-renew-deadline", "--http-address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.change(o)
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLeaseNamespaceDefaultsToSecretNamespace(t *testing.T) {
	o := NewOptions()
	o.SecretNamespace = "telemetry"
	if got := o.LeaseNamespace(); got != "telemetry" {
		t.Fatalf("LeaseNamespace() = %q, want the secret namespace", got)
	}
	o.LeaderElectionNamespace = "leases"
	if got := o.LeaseNamespace(); got != "leases" {
		t.Fatalf("LeaseNamespace() = %q, want leases", got)
	}
}
