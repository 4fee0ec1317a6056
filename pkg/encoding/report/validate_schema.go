package report

import (
	"regexp"

	"github.com/rancher/telemetry-manager/pkg/vocab"
)

// This file states schema.json for the typed validator, object by object.
// TestValidatorMatchesSchema and FuzzValidateAgreesWithSchema hold the two
// in step.

// The string kinds checked by pattern.
const (
	patVersion = iota
	patKubeletMinor
	patFeature
	patUUID
	patCommit
)

var patternKinds = [...]vocab.Kind{
	patVersion:      vocab.Version,
	patKubeletMinor: vocab.KubeletMinor,
	patFeature:      vocab.Feature,
	patUUID:         vocab.UUID,
	patCommit:       vocab.Commit,
}

type patternRule struct {
	re  *regexp.Regexp
	max int
}

var patternRules = func() (out [len(patternKinds)]patternRule) {
	for i, k := range patternKinds {
		r := vocab.RuleOf(k)
		out[i] = patternRule{re: regexp.MustCompile(r.Pattern), max: r.MaxLength}
	}
	return out
}()

// The enums of schema.json.
var (
	enumArch     = vocab.RuleOf(vocab.Arch).Enum
	enumOS       = vocab.RuleOf(vocab.OS).Enum
	enumRuntime  = vocab.RuleOf(vocab.Runtime).Enum
	enumDriver   = vocab.RuleOf(vocab.Driver).Enum
	enumProvider = vocab.RuleOf(vocab.Provider).Enum
	enumMode     = []string{"rancher", "kubernetes"}
	enumCapacity = []string{"nodes", "cluster", "unknown"}
	enumRole     = []string{
		"control-plane+etcd+worker",
		"control-plane+etcd",
		"control-plane+worker",
		"etcd+worker",
		"control-plane",
		"etcd",
		"worker",
		"none",
	}
	enumCoreBucketing = []string{CoresExact, CoresPowerOfTwo}
)

// all returns the mask of the first n members: every member required.
func all(n int) uint32 { return 1<<n - 1 }

var reportMembers = []string{
	"schemaVersion", "install", "totals", "clusters", "clustersAggregated", "clusterGroups", "nodeProfiles", "bucketing", "otherValues",
	// Since version 3.
	"clusterStates", "nodeStates", "extensions", "extensionsRefused",
	// Since version 4.
	"events",
}

// membersOf is, by version, how many of reportMembers it has, all
// required; it admits none of the others.
var membersOf = map[string]int{Version2: 9, Version3: 13, Version: 14}

// v2Members is the number of members of version 2.
const v2Members = 9

var schemaVersions = []string{Version2, Version3, Version}

func (p *parser) report(r *Report) bool {
	var seen uint32
	ok := p.object(reportMembers, all(v2Members), func(k int) bool {
		seen |= 1 << k
		switch k {
		case 0:
			v, ok := p.enum(schemaVersions)
			r.SchemaVersion = v
			return ok
		case 1:
			r.Install = Install{}
			return p.install(&r.Install)
		case 2:
			r.Totals = Totals{}
			return p.totals(&r.Totals)
		case 3:
			r.Clusters = []Cluster{}
			return p.array(func(int) bool {
				r.Clusters = append(r.Clusters, Cluster{})
				return p.cluster(&r.Clusters[len(r.Clusters)-1])
			})
		case 4:
			v, ok := p.boolean()
			r.ClustersAggregated = v
			return ok
		case 5:
			r.ClusterGroups = []ClusterGroup{}
			return p.array(func(int) bool {
				r.ClusterGroups = append(r.ClusterGroups, ClusterGroup{})
				return p.clusterGroup(&r.ClusterGroups[len(r.ClusterGroups)-1])
			})
		case 6:
			r.NodeProfiles = []NodeProfile{}
			return p.array(func(int) bool {
				r.NodeProfiles = append(r.NodeProfiles, NodeProfile{})
				return p.nodeProfile(&r.NodeProfiles[len(r.NodeProfiles)-1])
			})
		case 7:
			r.Bucketing = Bucketing{}
			return p.bucketing(&r.Bucketing)
		case 8:
			r.OtherValues = map[string]int64{}
			return p.otherValues(r.OtherValues)
		case 9:
			r.ClusterStates = ClusterStates{}
			return p.clusterStates(&r.ClusterStates)
		case 10:
			r.NodeStates = NodeStates{}
			return p.nodeStates(&r.NodeStates)
		case 11:
			r.Extensions = map[string]string{}
			return p.extensions(r.Extensions)
		case 12:
			var ok bool
			r.ExtensionsRefused, ok = p.integer(0)
			return ok
		default:
			r.Events = Events{}
			return p.events(&r.Events)
		}
	})
	if !ok {
		return false
	}
	// Each version has its members and none of the later ones. The first
	// member (schemaVersion) is required, so the version is known here.
	n := membersOf[r.SchemaVersion]
	for k := v2Members; k < len(reportMembers); k++ {
		switch has := seen&(1<<k) != 0; {
		case k >= n && has:
			p.push(reportMembers[k])
			return p.invalid("not a member of schema version %s", r.SchemaVersion)
		case k < n && !has:
			return p.invalid("missing property %s", quote(reportMembers[k]))
		}
	}
	// if clustersAggregated then clusters is empty, else clusterGroups is.
	if r.ClustersAggregated && len(r.Clusters) > 0 {
		p.push("clusters")
		return p.invalid("maxItems: got %d, want 0", len(r.Clusters))
	}
	if !r.ClustersAggregated && len(r.ClusterGroups) > 0 {
		p.push("clusterGroups")
		return p.invalid("maxItems: got %d, want 0", len(r.ClusterGroups))
	}
	return true
}

var installMembers = []string{"installUUID", "clusterUUID", "version", "gitCommit", "mode", "features", "kubernetesVersion"}

func (p *parser) install(in *Install) bool {
	return p.object(installMembers, all(len(installMembers)), func(k int) bool {
		var ok bool
		switch k {
		case 0:
			in.InstallUUID, ok = p.pattern(patUUID)
		case 1:
			in.ClusterUUID, ok = p.pattern(patUUID)
		case 2:
			in.Version, ok = p.pattern(patVersion)
		case 3:
			in.GitCommit, ok = p.pattern(patCommit)
		case 4:
			in.Mode, ok = p.enum(enumMode)
		case 5:
			in.Features = []string{}
			ok = p.array(func(int) bool {
				f, ok := p.pattern(patFeature)
				in.Features = append(in.Features, f)
				return ok
			})
			if ok {
				ok = p.unique(in.Features)
			}
		default:
			in.KubernetesVersion, ok = p.pattern(patVersion)
		}
		return ok
	})
}

// unique checks uniqueItems over the strings of an array just read.
func (p *parser) unique(items []string) bool {
	if len(items) <= 16 {
		for i := range items {
			for j := i + 1; j < len(items); j++ {
				if items[i] == items[j] {
					return p.invalid("items at %d and %d are equal", i, j)
				}
			}
		}
		return true
	}
	first := make(map[string]int, len(items))
	for j, s := range items {
		if i, ok := first[s]; ok {
			return p.invalid("items at %d and %d are equal", i, j)
		}
		first[s] = j
	}
	return true
}

var totalsMembers = []string{"clusters", "nodes", "cpuCores", "cpuMillicores", "memoryBytes", "invalidNodes"}

func (p *parser) totals(t *Totals) bool {
	fields := [...]*int64{&t.Clusters, &t.Nodes, &t.CPUCores, &t.CPUMillicores, &t.MemoryBytes, &t.InvalidNodes}
	return p.object(totalsMembers, all(len(totalsMembers)), func(k int) bool {
		var ok bool
		*fields[k], ok = p.integer(0)
		return ok
	})
}

var rolesMembers = []string{"controlPlane", "etcd", "worker"}

func (p *parser) roles(r *Roles) bool {
	*r = Roles{}
	fields := [...]*int64{&r.ControlPlane, &r.Etcd, &r.Worker}
	return p.object(rolesMembers, all(len(rolesMembers)), func(k int) bool {
		var ok bool
		*fields[k], ok = p.integer(0)
		return ok
	})
}

var clusterMembers = []string{"id", "upstream", "kubernetesVersion", "driver", "provider", "capacitySource", "nodes", "invalidNodes", "roles", "cpuCores", "cpuMillicores", "memoryBytes"}

func (p *parser) cluster(c *Cluster) bool {
	return p.object(clusterMembers, all(len(clusterMembers)), func(k int) bool {
		var ok bool
		switch k {
		case 0:
			c.ID, ok = p.clusterID()
		case 1:
			c.Upstream, ok = p.boolean()
		case 2:
			c.KubernetesVersion, ok = p.pattern(patVersion)
		case 3:
			c.Driver, ok = p.enum(enumDriver)
		case 4:
			c.Provider, ok = p.enum(enumProvider)
		case 5:
			c.CapacitySource, ok = p.enum(enumCapacity)
		case 6:
			c.Nodes, ok = p.integer(0)
		case 7:
			c.InvalidNodes, ok = p.integer(0)
		case 8:
			ok = p.roles(&c.Roles)
		case 9:
			c.CPUCores, ok = p.integer(0)
		case 10:
			c.CPUMillicores, ok = p.integer(0)
		default:
			c.MemoryBytes, ok = p.integer(0)
		}
		return ok
	})
}

// clusterID reads a cluster id: ^[0-9a-f]{32}$.
func (p *parser) clusterID() (string, bool) {
	s, ok := p.str()
	if !ok {
		return "", false
	}
	if n := len([]rune(s)); n > IDHexLen {
		return "", p.invalid("maxLength: got %d, want %d", n, IDHexLen)
	}
	valid := len(s) == IDHexLen
	for i := 0; valid && i < len(s); i++ {
		valid = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
	}
	if !valid {
		return "", p.invalid("%s does not match pattern '^[0-9a-f]{32}$'", quote(clip(s, 40)))
	}
	return s, true
}

var groupMembers = []string{"upstream", "kubernetesVersion", "driver", "provider", "nodesMin", "nodesMax", "count", "nodes", "invalidNodes", "roles", "cpuCores", "cpuMillicores", "memoryBytes"}

func (p *parser) clusterGroup(g *ClusterGroup) bool {
	return p.object(groupMembers, all(len(groupMembers)), func(k int) bool {
		var ok bool
		switch k {
		case 0:
			g.Upstream, ok = p.boolean()
		case 1:
			g.KubernetesVersion, ok = p.pattern(patVersion)
		case 2:
			g.Driver, ok = p.enum(enumDriver)
		case 3:
			g.Provider, ok = p.enum(enumProvider)
		case 4:
			g.NodesMin, ok = p.integer(0)
		case 5:
			g.NodesMax, ok = p.integer(0)
		case 6:
			g.Count, ok = p.integer(1)
		case 7:
			g.Nodes, ok = p.integer(0)
		case 8:
			g.InvalidNodes, ok = p.integer(0)
		case 9:
			ok = p.roles(&g.Roles)
		case 10:
			g.CPUCores, ok = p.integer(0)
		case 11:
			g.CPUMillicores, ok = p.integer(0)
		default:
			g.MemoryBytes, ok = p.integer(0)
		}
		return ok
	})
}

var profileMembers = []string{"arch", "os", "runtime", "kubeletMinor", "cpuCores", "memoryMiB", "role", "upstream", "count"}

func (p *parser) nodeProfile(n *NodeProfile) bool {
	return p.object(profileMembers, all(len(profileMembers)), func(k int) bool {
		var ok bool
		switch k {
		case 0:
			n.Arch, ok = p.enum(enumArch)
		case 1:
			n.OS, ok = p.enum(enumOS)
		case 2:
			n.Runtime, ok = p.enum(enumRuntime)
		case 3:
			n.KubeletMinor, ok = p.pattern(patKubeletMinor)
		case 4:
			n.CPUCores, ok = p.integer(0)
		case 5:
			n.MemoryMiB, ok = p.integer(0)
		case 6:
			n.Role, ok = p.enum(enumRole)
		case 7:
			n.Upstream, ok = p.boolean()
		default:
			n.Count, ok = p.integer(1)
		}
		return ok
	})
}

var bucketingMembers = []string{"memoryMiB", "cpuCores"}

func (p *parser) bucketing(b *Bucketing) bool {
	return p.object(bucketingMembers, all(len(bucketingMembers)), func(k int) bool {
		var ok bool
		if k == 0 {
			b.MemoryMiB, ok = p.integer(1)
		} else {
			b.CPUCores, ok = p.enum(enumCoreBucketing)
		}
		return ok
	})
}

// otherValuesMembers are the fields OtherValues may count, sorted.
var otherValuesMembers = []string{
	FieldClusterDriver, FieldClusterKubernetesVersion, FieldClusterProvider, FieldEventVersion,
	FieldClusterUUID, FieldFeatures, FieldGitCommit, FieldInstallUUID, FieldKubernetesVersion, FieldVersion,
	FieldNodeArch, FieldNodeKubeletVersion, FieldNodeOS, FieldNodeRuntime,
}

func (p *parser) otherValues(m map[string]int64) bool {
	return p.object(otherValuesMembers, 0, func(k int) bool {
		n, ok := p.integer(1)
		m[otherValuesMembers[k]] = n
		return ok
	})
}

var clusterStatesMembers = []string{"ready", "notReady", "provisioning", "upgrading", "unavailable"}

func (p *parser) clusterStates(c *ClusterStates) bool {
	fields := [...]*int64{&c.Ready, &c.NotReady, &c.Provisioning, &c.Upgrading, &c.Unavailable}
	return p.object(clusterStatesMembers, all(len(clusterStatesMembers)), func(k int) bool {
		var ok bool
		*fields[k], ok = p.integer(0)
		return ok
	})
}

var readinessMembers = []string{"ready", "notReady", "unknown"}

func (p *parser) readiness(r *Readiness) bool {
	*r = Readiness{}
	fields := [...]*int64{&r.Ready, &r.NotReady, &r.Unknown}
	return p.object(readinessMembers, all(len(readinessMembers)), func(k int) bool {
		var ok bool
		*fields[k], ok = p.integer(0)
		return ok
	})
}

var nodeStatesMembers = []string{"all", "controlPlane", "etcd", "worker"}

func (p *parser) nodeStates(n *NodeStates) bool {
	fields := [...]*Readiness{&n.All, &n.ControlPlane, &n.Etcd, &n.Worker}
	return p.object(nodeStatesMembers, all(len(nodeStatesMembers)), func(k int) bool {
		return p.readiness(fields[k])
	})
}

// The rules of extension keys and values.
var (
	extensionKey   = compileRule(vocab.ExtensionKeyRule())
	extensionValue = compileRule(vocab.RuleOf(vocab.Extension))
)

func compileRule(r vocab.Rule) patternRule {
	return patternRule{re: regexp.MustCompile(r.Pattern), max: r.MaxLength}
}

// check reports whether s is at most the rule's maxLength characters and
// matches its pattern, recording the problem when not.
func (p *parser) check(rule patternRule, s, what string) bool {
	if n := len([]rune(s)); n > rule.max {
		return p.invalid("%s: maxLength: got %d, want %d", what, n, rule.max)
	}
	if !rule.re.MatchString(s) {
		return p.invalid("%s %s does not match its pattern", what, quote(clip(s, 40)))
	}
	return true
}

// extensions reads the extensions object: at most MaxExtensions members,
// each key and string value checked by its rule.
func (p *parser) extensions(m map[string]string) bool {
	ok := p.members(func(kb []byte) bool {
		key := string(kb)
		if _, dup := m[key]; dup {
			p.err = errDuplicate
			return false
		}
		if !p.check(extensionKey, key, "property name") {
			return false
		}
		p.push(key)
		v, ok := p.str()
		if !ok || !p.check(extensionValue, v, "value") {
			return false
		}
		p.pop()
		m[key] = v
		return true
	})
	if !ok {
		return false
	}
	if len(m) > MaxExtensions {
		return p.invalid("maxProperties: got %d, want %d", len(m), MaxExtensions)
	}
	return true
}

var eventsMembers = []string{"items", "dropped", "lossWindowSeconds"}

func (p *parser) events(e *Events) bool {
	return p.object(eventsMembers, all(len(eventsMembers)), func(k int) bool {
		var ok bool
		switch k {
		case 0:
			e.Items = []Event{}
			ok = p.array(func(i int) bool {
				if i == MaxEvents {
					return p.invalid("maxItems: got more than %d", MaxEvents)
				}
				e.Items = append(e.Items, Event{})
				return p.event(&e.Items[len(e.Items)-1])
			})
		case 1:
			e.Dropped, ok = p.integer(0)
		default:
			e.LossWindowSeconds, ok = p.integer(0)
		}
		return ok
	})
}

var (
	eventMembers = []string{"seq", "time", "type", "clusterId", "fromVersion", "toVersion", "fromNodes", "toNodes"}
	enumEvent    = []string{"clusterCreated", "clusterDeleted", "clusterUpgraded", "nodePoolGrown", "nodePoolShrunk"}
	eventTimeRE  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
)

func (p *parser) event(e *Event) bool {
	return p.object(eventMembers, all(len(eventMembers)), func(k int) bool {
		var ok bool
		switch k {
		case 0:
			e.Seq, ok = p.integer(1)
		case 1:
			if e.Time, ok = p.str(); !ok {
				return false
			}
			if n := len([]rune(e.Time)); n > len(eventTime) {
				return p.invalid("maxLength: got %d, want %d", n, len(eventTime))
			}
			if !eventTimeRE.MatchString(e.Time) {
				return p.invalid("%s does not match the pattern of an event time", quote(clip(e.Time, 40)))
			}
		case 2:
			e.Type, ok = p.enum(enumEvent)
		case 3:
			e.ClusterID, ok = p.clusterID()
		case 4:
			e.FromVersion, ok = p.pattern(patVersion)
		case 5:
			e.ToVersion, ok = p.pattern(patVersion)
		case 6:
			e.FromNodes, ok = p.integer(0)
		default:
			e.ToNodes, ok = p.integer(0)
		}
		return ok
	})
}
