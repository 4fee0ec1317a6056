package v3

// ConditionStatus is the status of one condition as read: absent, True,
// False, or Unknown (which also stands for any other text). It is one byte,
// so a record keeps it at no cost.
type ConditionStatus uint8

// Condition statuses.
const (
	ConditionAbsent ConditionStatus = iota
	ConditionTrue
	ConditionFalse
	ConditionUnknown
)

func (s ConditionStatus) String() string {
	switch s {
	case ConditionTrue:
		return "True"
	case ConditionFalse:
		return "False"
	case ConditionUnknown:
		return "Unknown"
	}
	return "absent"
}

// conditionStatus maps the status text of a condition.
func conditionStatus(s string) ConditionStatus {
	switch s {
	case "True":
		return ConditionTrue
	case "False":
		return ConditionFalse
	}
	return ConditionUnknown
}

// Condition types read. Of a Node only Ready is read.
const (
	ConditionReady       = "Ready"
	ConditionProvisioned = "Provisioned"
	ConditionUpdated     = "Updated"
	ConditionConnected   = "Connected"
)

// Conditions holds the statuses of the condition types telemetry reads, of
// a status.conditions list: [{type, status, ...}]. Reasons, messages and
// times are never decoded, so a heartbeat that only moves a condition's
// lastHeartbeatTime changes nothing here. When a type is listed twice the
// last one counts.
type Conditions struct {
	Ready, Provisioned, Updated, Connected ConditionStatus
	// Bad says the list, or one of its conditions, had a wrong JSON type.
	Bad bool

	problems problems
}

// MarshalJSON writes the conditions read as a list of {type, status}.
func (c Conditions) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for _, e := range [...]struct {
		typ string
		s   ConditionStatus
	}{{ConditionReady, c.Ready}, {ConditionProvisioned, c.Provisioned}, {ConditionUpdated, c.Updated}, {ConditionConnected, c.Connected}} {
		if e.s == ConditionAbsent {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`+e.typ+`","status":"`+e.s.String()+`"}`...)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (c *Conditions) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return c.read(b, i, 0) })
}

// read reads a conditions list. A value that is not an array, an element
// that is not an object, or a type or status that is not a string is a
// problem; the conditions read before it are kept.
func (c *Conditions) read(b []byte, i, depth int) (int, error) {
	*c = Conditions{}
	if i >= len(b) || b[i] != '[' {
		end, err := skipValue(b, i, depth)
		if err != nil {
			return 0, err
		}
		c.problems.check("", kindOf(b[i:end]), "an array")
		c.Bad = len(c.problems) > 0
		return end, nil
	}
	end, err := walkArray(b, i, depth, func(_ []byte, i, depth int) (int, error) {
		var typ, status String
		end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
			switch string(key) {
			case "type":
				return readLeaf(b, i, depth, &typ)
			case "status":
				return readLeaf(b, i, depth, &status)
			}
			return skipValue(b, i, depth)
		})
		if err != nil {
			return 0, err
		}
		// The list is named as the field: its elements have no names.
		for _, got := range [...]Kind{k, typ.Bad, status.Bad} {
			if got != KindNone {
				c.Bad = true
				if len(c.problems) == 0 { // one problem names the list
					c.problems.check("", got, "an array of objects with string type and status")
				}
				return end, nil
			}
		}
		c.set(typ.Value, status.Value)
		return end, nil
	})
	if err != nil {
		return 0, err
	}
	return end, nil
}

func (c *Conditions) set(typ, status string) {
	s := conditionStatus(status)
	switch typ {
	case ConditionReady:
		c.Ready = s
	case ConditionProvisioned:
		c.Provisioned = s
	case ConditionUpdated:
		c.Updated = s
	case ConditionConnected:
		c.Connected = s
	}
}
