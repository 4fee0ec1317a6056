// Package scc encodes a snapshot as the payload that Rancher's SUSE Customer
// Center consumers read, and that SCC registration sends as hwinfo. The key
// names are fixed by those consumers (they mix cases on purpose); the
// format is described by schema.json in this package.
//
// managedSystems counts the valid nodes of every cluster by (arch, cores per
// node, memory MiB per node, upstream). Clusters without Node objects have no
// systems to count; they appear in managedClusters with 0 nodes.
// managedClusters counts downstream clusters by node count, plus one entry
// per node count of upstream clusters (a snapshot has at most one: local).
//
// Layout: objects are indented, and each element of a list is written
// compactly on its own line (jsonutil.Marshal). Only whitespace differs
// from a fully indented document.
//
// Size: the payload is kept under MaxBytes. The format has no field to say
// that figures were rounded, so the rounding is fixed here: when the exact
// managedSystems do not fit, memory is rounded up to a multiple of 1024 MiB,
// then 4096, 16384, 65536, 262144 and 1048576 MiB, taking the first step
// that fits. Cores, counts and arch are never rounded. If even the coarsest
// step does not fit, Encode returns an error wrapping ErrTooLarge.
//
// Free text never leaves: every string is cleaned by package vocab. The
// UUIDs, the raw version, the commit, feature flags and node architectures
// become "other" when they are in no vocabulary and match no pattern; the
// server URL is cut to scheme, host, port and path, and becomes "" when it
// is no http(s) URL with a valid host. The format has no place to count
// replacements (the report has), and keeps its key names.
package scc

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/jsonutil"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

const (
	// FormatName is the name of this payload format.
	FormatName = "scc"
	// Version is the version of schema.json.
	Version = "1"
	// MaxBytes is the largest payload Encode returns: 640 KiB, as for the
	// report. Kubernetes rejects a Secret whose data values add up to more
	// than 1 MiB, so this leaves 384 KiB for any other data key;
	// annotations and labels have their own limit (256 KiB), and the whole
	// object stays well under etcd's default 1.5 MiB request limit.
	MaxBytes = 640 << 10
	// Product is the SCC product identifier.
	Product = "rancher-prime"
	// Arch is the architecture of the product as SCC knows it.
	Arch = "unknown"
)

var (
	// ErrBadVersion is returned when the install version holds no X.Y.Z.
	ErrBadVersion = errors.New("scc: version has no X.Y.Z")
	// ErrTooLarge is returned when the payload exceeds MaxBytes even with the
	// coarsest memory rounding.
	ErrTooLarge = errors.New("scc: payload too large")
)

// memoryLadder lists the memory rounding steps in MiB, finest first.
var memoryLadder = []int64{1, 1024, 4096, 16384, 65536, 262144, 1048576}

// Payload is the SCC payload document. Field order is the order in the JSON.
type Payload struct {
	Version         string           `json:"version"` // X.Y.Z
	Subscription    Subscription     `json:"subscription"`
	FeatureFlags    []string         `json:"feature_flags"` // sorted, unique
	ManagedSystems  []ManagedSystem  `json:"managedSystems"`
	ManagedClusters []ManagedCluster `json:"managedClusters"`
	Timestamp       string           `json:"timestamp"` // RFC 3339, UTC
}

// Subscription identifies the installation. Consumers read every field as a
// string and fail on a missing one, so all are always written.
type Subscription struct {
	InstallUUID string `json:"installuuid"`
	ClusterUUID string `json:"clusteruuid"`
	Product     string `json:"product"`
	Version     string `json:"version"` // raw build version
	Arch        string `json:"arch"`
	Git         string `json:"git"`
	ServerURL   string `json:"server_url"`
}

// ManagedSystem counts nodes of one shape.
type ManagedSystem struct {
	Arch     string `json:"arch"`
	CPU      int64  `json:"cpu"`    // cores per node: ceil(millicores/1000)
	Memory   int64  `json:"memory"` // MiB per node: ceil(bytes/1048576), maybe rounded up
	Count    int64  `json:"count"`
	Upstream bool   `json:"upstream"`
}

// ManagedCluster counts the clusters that have Nodes valid nodes each.
type ManagedCluster struct {
	Count    int64 `json:"count"`
	Nodes    int64 `json:"nodes"`
	Upstream bool  `json:"upstream"`
}

// Encoder encodes SCC payloads.
type Encoder struct{}

var _ snapshot.Encoder = Encoder{}

// Format returns "scc".
func (Encoder) Format() string { return FormatName }

// SchemaVersion returns the version of schema.json.
func (Encoder) SchemaVersion() string { return Version }

// Encode renders the snapshot with now as the timestamp. It does not modify
// s.
func (Encoder) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	return encode(s, now, MaxBytes)
}

// encode is Encode with the size limit as a parameter, so tests can reach
// the coarse forms with small snapshots.
func encode(s *snapshot.Snapshot, now time.Time, limit int) ([]byte, error) {
	if s == nil {
		return nil, errors.New("scc: nil snapshot")
	}
	version, err := ProductVersion(s.Install.Version)
	if err != nil {
		return nil, err
	}
	flags := make([]string, 0, len(s.Install.Features))
	for _, f := range s.Install.Features {
		flags = append(flags, clean(vocab.Feature, f))
	}
	// Sorted and unique after cleaning: two replaced names are one "other".
	slices.Sort(flags)
	flags = slices.Compact(flags)
	p := Payload{
		Version: version,
		Subscription: Subscription{
			InstallUUID: clean(vocab.UUID, s.Install.InstallUUID),
			ClusterUUID: clean(vocab.UUID, s.Install.ClusterUUID),
			Product:     Product,
			Version:     clean(vocab.Version, s.Install.Version),
			Arch:        Arch,
			Git:         clean(vocab.Commit, s.Install.GitCommit),
			ServerURL:   clean(vocab.ServerURL, s.Install.ServerURL),
		},
		FeatureFlags:    flags,
		ManagedClusters: managedClusters(s),
		Timestamp:       now.UTC().Format(time.RFC3339),
	}
	clusterBytes, err := jsonutil.AtLeast(p.ManagedClusters, 2, limit)
	if err != nil {
		return nil, fmt.Errorf("encoding scc managedClusters: %w", err)
	}
	tooLarge := fmt.Errorf("%w: over %d bytes with %d managedClusters entries and memory rounded to %d MiB",
		ErrTooLarge, limit, len(p.ManagedClusters), memoryLadder[len(memoryLadder)-1])
	if clusterBytes > limit {
		return nil, tooLarge
	}

	// Take the finest memory step that fits. AtLeast bounds skip steps that
	// cannot fit without writing or sorting them whole; the final length
	// check is the one that decides. Each step's counts are derived from
	// the step before: every step divides the next (TestLadderNested).
	counts := exactSystems(s)
	for i, step := range memoryLadder {
		if i > 0 {
			counts = roundMemory(counts, step)
		}
		p.ManagedSystems = systemList(counts)
		systemBytes, err := jsonutil.AtLeast(p.ManagedSystems, 2, limit-clusterBytes)
		if err != nil {
			return nil, fmt.Errorf("encoding scc managedSystems: %w", err)
		}
		if clusterBytes+systemBytes > limit {
			continue
		}
		slices.SortFunc(p.ManagedSystems, compareSystems)
		out, err := jsonutil.Marshal(&p)
		if err != nil {
			return nil, fmt.Errorf("encoding scc payload: %w", err)
		}
		if len(out) <= limit {
			return out, nil
		}
	}
	return nil, tooLarge
}

// clean returns the value of s that may be exported as k.
func clean(k vocab.Kind, s string) string {
	v, _ := vocab.Clean(k, s)
	return v
}

// ProductVersion returns the X.Y.Z of a raw product version: a leading "v"
// and any pre-release or build part are stripped ("v2.12.1+up1" -> "2.12.1",
// "2.9.0-alpha4" -> "2.9.0"), whatever the part holds: the raw version is
// written (or replaced) separately, as subscription.version. A version with
// no X.Y.Z ("dev", "", "2.9", "2.9.0.1", numbers over six digits) gives an
// error wrapping ErrBadVersion, which quotes at most 64 characters of it.
func ProductVersion(raw string) (string, error) {
	core, ok := vocab.ReleaseCore(raw)
	if !ok {
		return "", fmt.Errorf("%w: product version %.64q", ErrBadVersion, raw)
	}
	return core, nil
}

type systemKey struct {
	arch        string
	cpu, memory int64
	upstream    bool
}

// exactSystems counts the valid nodes by exact shape.
func exactSystems(s *snapshot.Snapshot) map[systemKey]int64 {
	out := map[systemKey]int64{}
	archs := map[string]string{} // few distinct values: clean each once
	// Profiles are sorted by arch first: runs share it.
	var lastIn, lastOut string
	for i, p := range snapshot.ProfilesOf(s) {
		if i == 0 || p.Arch != lastIn {
			arch, ok := archs[p.Arch]
			if !ok {
				arch = clean(vocab.Arch, p.Arch) // "" is unknown
				archs[p.Arch] = arch
			}
			lastIn, lastOut = p.Arch, arch
		}
		out[systemKey{arch: lastOut, cpu: p.CPUCores, memory: p.MemoryMiB, upstream: p.Upstream}] += int64(p.Count)
	}
	return out
}

// roundMemory rounds memory up to a multiple of step and merges the shapes
// that become equal.
func roundMemory(counts map[systemKey]int64, step int64) map[systemKey]int64 {
	out := make(map[systemKey]int64, len(counts)/4)
	for k, n := range counts {
		if k.memory > 0 {
			k.memory = (k.memory + step - 1) / step * step
		}
		out[k] += n
	}
	return out
}

// systemList lists the counted shapes, unsorted (see compareSystems).
func systemList(counts map[systemKey]int64) []ManagedSystem {
	out := make([]ManagedSystem, 0, len(counts))
	for k, n := range counts {
		out = append(out, ManagedSystem{Arch: k.arch, CPU: k.cpu, Memory: k.memory, Count: n, Upstream: k.upstream})
	}
	return out
}

// compareSystems orders systems upstream first, then by arch, cpu, memory.
func compareSystems(a, b ManagedSystem) int {
	return cmp.Or(
		upstreamFirst(a.Upstream, b.Upstream),
		cmp.Compare(a.Arch, b.Arch),
		cmp.Compare(a.CPU, b.CPU),
		cmp.Compare(a.Memory, b.Memory),
	)
}

// managedClusters counts clusters by (node count, upstream), upstream first,
// then by node count.
func managedClusters(s *snapshot.Snapshot) []ManagedCluster {
	type key struct {
		nodes    int64
		upstream bool
	}
	counts := map[key]int64{}
	for i := range s.Clusters {
		c := &s.Clusters[i]
		counts[key{int64(c.NodeCount()), c.Upstream}]++
	}
	out := make([]ManagedCluster, 0, len(counts))
	for k, n := range counts {
		out = append(out, ManagedCluster{Count: n, Nodes: k.nodes, Upstream: k.upstream})
	}
	slices.SortFunc(out, func(a, b ManagedCluster) int {
		return cmp.Or(
			upstreamFirst(a.Upstream, b.Upstream),
			cmp.Compare(a.Nodes, b.Nodes),
		)
	})
	return out
}

func upstreamFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	default:
		return 1
	}
}
