// Package v1 holds the types of the telemetry.cattle.io/v1 API group: the
// SecretRequest, by which another controller (Rancher's scc-operator among
// them) asks telemetry-manager to keep a payload in a Secret of its choice.
//
// The deep-copy functions are written by hand (deepcopy.go): the types are
// few and small, and no code generator is needed to build the module.
package v1
