package server

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds the rate limiter's memory: past it, the buckets that
// refilled completely (their install is idle) are dropped.
const maxLimiters = 100_000

// limiter is a token bucket per install UUID.
type limiter struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// newLimiter allows perHour reports per install per hour on average, burst
// at once.
func newLimiter(perHour float64, burst int) *limiter {
	return &limiter{every: rate.Limit(perHour / 3600), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token of install at now, or says how long to wait for one.
func (l *limiter) allow(install string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[install]
	if !ok {
		if len(l.buckets) >= maxLimiters {
			l.sweep(now)
		}
		b = rate.NewLimiter(l.every, l.burst)
		l.buckets[install] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Hour
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops full buckets: a new bucket starts full, so this forgets
// nothing.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// retryAfter is the Retry-After value of d: whole seconds, at least 1.
func retryAfter(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
