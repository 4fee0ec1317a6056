// Package v3 holds the small subset of the management.cattle.io/v3 API that the
// gatherer reads: Cluster, Node, Setting and Feature.
//
// The types carry only the fields that telemetry uses. Everything else in the
// real Rancher objects (display names, credentials such as
// status.serviceAccountToken and status.caCert, addresses, image lists, the
// reasons and messages of conditions) is dropped by the JSON decoder and never reaches the cache.
//
// Resource quantities are kept as raw text (Quantity) rather than
// resource.Quantity, so that one object with a malformed value such as
// cpu: "abc" decodes like any other and is rejected by the gatherer, with a
// precise error, instead of failing the decoding of a whole list.
package v3
