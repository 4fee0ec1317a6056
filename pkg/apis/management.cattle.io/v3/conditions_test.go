package v3

import (
	"encoding/json"
	"testing"
)

func TestConditionsDecode(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Conditions
		// problem is the field of the Cluster's one problem; "" for none.
		problem string
	}{
		{"absent", `{}`, Conditions{}, ""},
		{"null", `{"conditions": null}`, Conditions{}, ""},
		{"every type read", `{"conditions": [{"type": "Ready", "status": "True"}, {"type": "Provisioned", "status": "False"},
			{"type": "Updated", "status": "Unknown"}, {"type": "Connected", "status": "True"}]}`,
			Conditions{Ready: ConditionTrue, Provisioned: ConditionFalse, Updated: ConditionUnknown, Connected: ConditionTrue}, ""},
		{"other types, texts and times are skipped", `{"conditions": [{"type": "Pending", "status": "True"},
			{"type": "Ready", "status": "True", "reason": "x", "message": "db1.corp.example", "lastUpdateTime": "2026-01-01T00:00:00Z", "extra": {"a": [1]}}]}`,
			Conditions{Ready: ConditionTrue}, ""},
		{"an odd status is Unknown", `{"conditions": [{"type": "Ready", "status": "yes"}]}`, Conditions{Ready: ConditionUnknown}, ""},
		{"a type without status is Unknown", `{"conditions": [{"type": "Ready"}]}`, Conditions{Ready: ConditionUnknown}, ""},
		{"the last of a type counts", `{"conditions": [{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}]}`, Conditions{Ready: ConditionTrue}, ""},
		{"not an array", `{"conditions": {"Ready": "True"}}`, Conditions{Bad: true}, "status.conditions"},
		{"an element not an object", `{"conditions": [{"type": "Ready", "status": "True"}, "Ready"]}`, Conditions{Ready: ConditionTrue, Bad: true}, "status.conditions"},
		{"a status not a string", `{"conditions": [{"type": "Ready", "status": true}, {"type": "Updated", "status": 1}]}`, Conditions{Bad: true}, "status.conditions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{}
			if err := json.Unmarshal([]byte(`{"kind": "Cluster", "metadata": {"name": "c-1"}, "status": `+tt.doc+`}`), c); err != nil {
				t.Fatal(err)
			}
			got := c.Status.Conditions
			got.problems = nil
			if got.Ready != tt.want.Ready || got.Provisioned != tt.want.Provisioned || got.Updated != tt.want.Updated ||
				got.Connected != tt.want.Connected || got.Bad != tt.want.Bad {
				t.Errorf("conditions %+v, want %+v", got, tt.want)
			}
			ps := c.Problems()
			switch {
			case tt.problem == "" && len(ps) != 0:
				t.Errorf("problems %v, want none", ps)
			case tt.problem != "" && (len(ps) != 1 || ps[0].Field != tt.problem):
				t.Errorf("problems %v, want one at %s", ps, tt.problem)
			}
		})
	}
}

func TestNodeConditionsAreNoProblem(t *testing.T) {
	n := &Node{}
	doc := `{"kind": "Node", "metadata": {"name": "m-1", "namespace": "c-1"},
		"status": {"internalNodeStatus": {"conditions": [{"type": "Ready", "status": ["True"]}]}}}`
	if err := json.Unmarshal([]byte(doc), n); err != nil {
		t.Fatal(err)
	}
	if ps := n.Problems(); len(ps) != 0 || n.Status.InternalNodeStatus.Conditions.Ready != ConditionAbsent {
		t.Errorf("problems %v, Ready %s: want none and absent", ps, n.Status.InternalNodeStatus.Conditions.Ready)
	}
}

func TestConditionsMarshalRoundTrips(t *testing.T) {
	in := Conditions{Ready: ConditionTrue, Updated: ConditionUnknown}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Conditions
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Ready != in.Ready || out.Updated != in.Updated || out.Provisioned != ConditionAbsent || out.Bad {
		t.Errorf("%s read back as %+v", b, out)
	}
}
