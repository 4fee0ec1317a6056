package main

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// openStore opens the store that --database names: a SQLite file or a
// PostgreSQL database, with their default options.
func openStore(ctx context.Context, spec string) (store.Store, error) {
	return store.Open(ctx, spec, store.NewOptions(), logrus.NewEntry(logrus.StandardLogger()).WithField("component", "store"))
}
