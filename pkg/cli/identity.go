package cli

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/rancher/telemetry-manager/pkg/identity"
)

var (
	// ErrNoIdentity means --identity-file holds no Secret.
	ErrNoIdentity = errors.New("no identity Secret")
	// ErrIdentityConflict means the input and --identity-file hold
	// different identities.
	ErrIdentityConflict = errors.New("identity Secrets differ")
)

// installUUIDSpace is the name space of the install UUIDs derived from a
// file (RFC 9562 name-based UUIDs, version 5).
var installUUIDSpace = uuid.MustParse("312219fd-cda8-45c6-a853-4002b3b79bd8")

// fileIdentity returns the identity of the input file or of
// --identity-file, and whether there was one. When both hold one they must
// agree.
func (o *PayloadOptions) fileIdentity(dump *Dump) (identity.Identity, bool, error) {
	var (
		id    identity.Identity
		found bool
	)
	if dump.Identity != nil {
		var err error
		if id, err = identity.FromSecret(dump.Identity); err != nil {
			return identity.Identity{}, false, fmt.Errorf("%s: %s: %w", o.FromFile, dump.IdentityAt, err)
		}
		found = true
	}
	if o.IdentityFile == "" {
		return id, found, nil
	}
	lo := o.loadOptions()
	lo.anyIdentity = true
	d, err := o.load(o.IdentityFile, lo)
	if err != nil {
		return identity.Identity{}, false, fmt.Errorf("--identity-file: %w", err)
	}
	if d.Identity == nil {
		return identity.Identity{}, false, fmt.Errorf("--identity-file %s: %w: it holds no v1 Secret", o.IdentityFile, ErrNoIdentity)
	}
	fromFile, err := identity.FromSecret(d.Identity)
	if err != nil {
		return identity.Identity{}, false, fmt.Errorf("--identity-file %s: %s: %w", o.IdentityFile, d.IdentityAt, err)
	}
	if found && (!bytes.Equal(id.Key, fromFile.Key) || id.InstallUUID != fromFile.InstallUUID) {
		return identity.Identity{}, false, fmt.Errorf("%w: Secret %s/%s in %s (%s) and Secret %s/%s in --identity-file %s",
			ErrIdentityConflict, dump.Identity.Namespace, dump.Identity.Name, o.FromFile, dump.IdentityAt,
			d.Identity.Namespace, d.Identity.Name, o.IdentityFile)
	}
	return fromFile, true, nil
}

// DeriveInstallUUID returns an install UUID for a dump without an identity,
// and says where it came from. It is a name-based UUID of the kube-system
// Namespace's uid, else of the sorted core Node UIDs, so that two renders of
// the same dump agree; random only when the dump holds neither.
func DeriveInstallUUID(dump *Dump) (id, from string) {
	const notExported = "stable for this input, but not the exported one (give the identity Secret for that)"
	if dump.KubeSystem != nil && dump.KubeSystem.UID != "" {
		return uuid.NewSHA1(installUUIDSpace, []byte("kube-system/"+string(dump.KubeSystem.UID))).String(),
			"derived from the kube-system Namespace uid: " + notExported
	}
	if len(dump.NodeUIDs) > 0 {
		uids := slices.Clone(dump.NodeUIDs)
		slices.Sort(uids)
		return uuid.NewSHA1(installUUIDSpace, []byte("nodes/"+strings.Join(uids, "\n"))).String(),
			fmt.Sprintf("derived from the UIDs of %d Nodes: %s", len(uids), notExported)
	}
	return uuid.NewString(), "made up for this run only: the input holds neither the kube-system Namespace nor Node UIDs"
}
