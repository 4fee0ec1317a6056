package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretTypeSCC asks for the scc payload (pkg/encoding/scc).
const SecretTypeSCC = "scc"

// Condition types of a SecretRequest.
const (
	// ConditionProgressing is True while the request is accepted but its
	// Secret is not written yet, or a write failed and is retried.
	ConditionProgressing = "Progressing"
	// ConditionDone is True once the Secret holds the current payload.
	ConditionDone = "Done"
	// ConditionFailure is True when the request is invalid or its last
	// write failed; its message says what is wrong.
	ConditionFailure = "Failure"
	// ConditionReady is True while the Secret is kept up to date.
	ConditionReady = "Ready"
)

// SecretRequest asks for a payload to be kept in a Secret: telemetry-manager
// writes it there, keeps it current and restores it when it is edited or
// deleted, and removes the Secret when the request is deleted. It is
// cluster-scoped.
type SecretRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SecretRequestSpec   `json:"spec"`
	Status SecretRequestStatus `json:"status,omitempty"`
}

// SecretRequestSpec says what to write and where.
type SecretRequestSpec struct {
	// SecretType is the payload format; only "scc" is supported.
	SecretType string `json:"secretType"`
	// TargetSecretRef is the Secret to write, key "payload".
	TargetSecretRef SecretReference `json:"targetSecretRef"`
}

// SecretReference names a Secret.
type SecretReference struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SecretRequestStatus is what telemetry-manager last did for the request.
type SecretRequestStatus struct {
	// Conditions are Progressing, Done, Failure and Ready.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastSyncTS is when the Secret was last found or made to hold the
	// current payload.
	LastSyncTS *metav1.Time `json:"lastSyncTS,omitempty"`
}

// SecretRequestList is a list of SecretRequests.
type SecretRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []SecretRequest `json:"items"`
}
