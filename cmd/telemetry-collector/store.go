package main

import (
	"context"
	"errors"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// errNoDriver is returned for a --database whose driver is not built in.
var errNoDriver = errors.New("no store driver built in for this database")

// openStore opens the store that --database names. It is the one place
// the command chooses its storage drivers.
func openStore(context.Context, string) (store.Store, error) {
	return nil, errNoDriver
}
