package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPostgresDiskFullIsErrFull(t *testing.T) {
	full := fmt.Errorf("committing: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"})
	if err := postgresFull(full); !errors.Is(err, ErrFull) {
		t.Errorf("disk_full: %v, want ErrFull", err)
	}
	other := fmt.Errorf("committing: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	if err := postgresFull(other); errors.Is(err, ErrFull) {
		t.Errorf("admin shutdown: %v, want no ErrFull", err)
	}
	if err := postgresFull(errors.New("dial tcp: connection refused")); errors.Is(err, ErrFull) {
		t.Errorf("network error: %v, want no ErrFull", err)
	}
}
