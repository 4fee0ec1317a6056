package snapshot

import "time"

// EventType names a lifecycle event.
type EventType string

// Lifecycle events, as the report names them.
const (
	// ClusterCreated: a Cluster appeared.
	ClusterCreated EventType = "clusterCreated"
	// ClusterDeleted: a Cluster went away.
	ClusterDeleted EventType = "clusterDeleted"
	// ClusterUpgraded: a cluster's Kubernetes version changed (FromVersion,
	// ToVersion).
	ClusterUpgraded EventType = "clusterUpgraded"
	// NodePoolGrown and NodePoolShrunk: a cluster's node count went up or
	// down (FromNodes, ToNodes).
	NodePoolGrown  EventType = "nodePoolGrown"
	NodePoolShrunk EventType = "nodePoolShrunk"
)

// EventTypes lists every event type, in the order they are documented.
func EventTypes() []EventType {
	return []EventType{ClusterCreated, ClusterDeleted, ClusterUpgraded, NodePoolGrown, NodePoolShrunk}
}

// Event is one lifecycle event of a cluster. It carries the cluster's
// pseudonymous id, never its name.
type Event struct {
	// Seq numbers the events of an installation from 1 without gaps; a
	// reader that sees a gap lost what is between (see Events.Dropped).
	Seq  uint64
	Time time.Time // when the change was seen, to the second
	Type EventType
	// ClusterID is the cluster's pseudonym, as in the report's clusters.
	ClusterID string
	// FromVersion and ToVersion are the Kubernetes versions before and
	// after an upgrade, cleaned as the report cleans versions ("" when
	// unknown). A created cluster has only ToVersion, a deleted one only
	// FromVersion; pool changes have neither.
	FromVersion, ToVersion string
	// FromNodes and ToNodes are the node counts before and after a node
	// pool change. A created cluster has only ToNodes (the nodes it had by
	// the time a report carried it), a deleted one only FromNodes; an
	// upgrade has neither.
	FromNodes, ToNodes int
}

// Events are the events one exporter has not delivered yet, as the
// exporter manager hands them to it with a snapshot.
type Events struct {
	// Items are in Seq order.
	Items []Event
	// Dropped counts the events this exporter will never deliver: the
	// bounded buffer was full and let them go before the exporter ran.
	Dropped int
	// LossWindow bounds what a crash can lose: events are saved this
	// often, so a crash loses at most the events of the last LossWindow,
	// and may deliver again those acknowledged in it.
	LossWindow time.Duration
}

// Last returns the Seq of the last item, or 0 when there is none.
func (e *Events) Last() uint64 {
	if len(e.Items) == 0 {
		return 0
	}
	return e.Items[len(e.Items)-1].Seq
}

// WithEvents returns a shallow copy of s that carries ev; s itself, which
// may be shared, is not modified.
func (s *Snapshot) WithEvents(ev Events) *Snapshot {
	c := *s
	c.Events = ev
	return &c
}
