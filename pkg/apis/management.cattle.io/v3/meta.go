package v3

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "sigs.k8s.io/json"
)

// readObjectMeta decodes the metadata of an object in the one pass of
// Codecs, as encoding/json would decode it into m. What it does not read
// the way encoding/json does (a value of the wrong type, null in a map or
// a list, a map or list given twice, whose values encoding/json would
// merge) returns errUnusual, and the stock decoder reads the document.
// Owner references, short and rare, are decoded by encoding/json.
func readObjectMeta(b []byte, i, depth int, m *metav1.ObjectMeta) (int, error) {
	if b[i] == 'n' {
		return skipLiteral(b, i, "null")
	}
	if b[i] != '{' {
		return 0, errUnusual
	}
	end, _, err := walkObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		switch string(key) {
		case "name":
			return readStringField(b, i, depth, &m.Name)
		case "generateName":
			return readStringField(b, i, depth, &m.GenerateName)
		case "namespace":
			return readStringField(b, i, depth, &m.Namespace)
		case "selfLink":
			return readStringField(b, i, depth, &m.SelfLink)
		case "uid":
			return readStringField(b, i, depth, &m.UID)
		case "resourceVersion":
			return readStringField(b, i, depth, &m.ResourceVersion)
		case "generation":
			end, err := skipValue(b, i, depth)
			if err != nil || b[i] == 'n' {
				return end, err
			}
			n, err := strconv.ParseInt(string(b[i:end]), 10, 64)
			if err != nil {
				return 0, errUnusual
			}
			m.Generation = n
			return end, nil
		case "deletionGracePeriodSeconds":
			end, err := skipValue(b, i, depth)
			if err != nil {
				return 0, err
			}
			if b[i] == 'n' {
				m.DeletionGracePeriodSeconds = nil
				return end, nil
			}
			n, err := strconv.ParseInt(string(b[i:end]), 10, 64)
			if err != nil {
				return 0, errUnusual
			}
			m.DeletionGracePeriodSeconds = &n
			return end, nil
		case "creationTimestamp":
			return readTime(b, i, depth, &m.CreationTimestamp)
		case "deletionTimestamp":
			if b[i] == 'n' {
				m.DeletionTimestamp = nil
				return skipLiteral(b, i, "null")
			}
			m.DeletionTimestamp = new(metav1.Time)
			return readTime(b, i, depth, m.DeletionTimestamp)
		case "labels":
			return readStringMap(b, i, depth, &m.Labels)
		case "annotations":
			return readStringMap(b, i, depth, &m.Annotations)
		case "finalizers":
			return readStrings(b, i, depth, &m.Finalizers)
		case "ownerReferences":
			if m.OwnerReferences != nil {
				return 0, errUnusual
			}
			return readMeta(b, i, &m.OwnerReferences)
		case "managedFields":
			return readManagedFields(b, i, depth, &m.ManagedFields)
		}
		return skipValue(b, i, depth)
	})
	return end, err
}

// readString reads a JSON string; null is "" and true.
func readString(b []byte, i, depth int) (s string, null bool, end int, err error) {
	end, err = skipValue(b, i, depth)
	if err != nil {
		return "", false, 0, err
	}
	switch b[i] {
	case 'n':
		return "", true, end, nil
	case '"':
		if s, ok := plainString(b[i:end]); ok {
			return s, false, end, nil
		}
		if err := utiljson.UnmarshalCaseSensitivePreserveInts(b[i:end], &s); err != nil {
			return "", false, 0, errUnusual
		}
		return s, false, end, nil
	}
	return "", false, 0, errUnusual
}

// readStringField reads a string into v; null leaves v as it is.
func readStringField[S ~string](b []byte, i, depth int, v *S) (int, error) {
	s, null, end, err := readString(b, i, depth)
	if err == nil && !null {
		*v = S(s)
	}
	return end, err
}

func readTime(b []byte, i, depth int, t *metav1.Time) (int, error) {
	end, err := skipValue(b, i, depth)
	if err != nil {
		return 0, err
	}
	if err := t.UnmarshalJSON(b[i:end]); err != nil {
		return 0, errUnusual
	}
	return end, nil
}

func readStringMap(b []byte, i, depth int, m *map[string]string) (int, error) {
	if *m != nil {
		return 0, errUnusual
	}
	if b[i] == 'n' {
		return skipLiteral(b, i, "null")
	}
	if b[i] != '{' {
		return 0, errUnusual
	}
	out := map[string]string{}
	end, _, err := walkObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		s, null, end, err := readString(b, i, depth)
		if err != nil {
			return 0, err
		}
		if null {
			return 0, errUnusual
		}
		out[string(key)] = s
		return end, nil
	})
	if err != nil {
		return 0, err
	}
	*m = out
	return end, nil
}

func readStrings(b []byte, i, depth int, l *[]string) (int, error) {
	if *l != nil {
		return 0, errUnusual
	}
	if b[i] == 'n' {
		return skipLiteral(b, i, "null")
	}
	if b[i] != '[' {
		return 0, errUnusual
	}
	out := []string{}
	end, err := walkArray(b, i, depth, func(_ []byte, i, depth int) (int, error) {
		s, null, end, err := readString(b, i, depth)
		if err != nil {
			return 0, err
		}
		if null {
			return 0, errUnusual
		}
		out = append(out, s)
		return end, nil
	})
	if err != nil {
		return 0, err
	}
	*l = out
	return end, nil
}

func readManagedFields(b []byte, i, depth int, l *[]metav1.ManagedFieldsEntry) (int, error) {
	if *l != nil {
		return 0, errUnusual
	}
	if b[i] == 'n' {
		return skipLiteral(b, i, "null")
	}
	if b[i] != '[' {
		return 0, errUnusual
	}
	out := []metav1.ManagedFieldsEntry{}
	end, err := walkArray(b, i, depth, func(_ []byte, i, depth int) (int, error) {
		if b[i] != '{' {
			return 0, errUnusual
		}
		var e metav1.ManagedFieldsEntry
		end, _, err := walkObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
			switch string(key) {
			case "manager":
				return readStringField(b, i, depth, &e.Manager)
			case "operation":
				return readStringField(b, i, depth, &e.Operation)
			case "apiVersion":
				return readStringField(b, i, depth, &e.APIVersion)
			case "fieldsType":
				return readStringField(b, i, depth, &e.FieldsType)
			case "subresource":
				return readStringField(b, i, depth, &e.Subresource)
			case "time":
				if b[i] == 'n' {
					e.Time = nil
					return skipLiteral(b, i, "null")
				}
				e.Time = new(metav1.Time)
				return readTime(b, i, depth, e.Time)
			case "fieldsV1":
				end, err := skipValue(b, i, depth)
				if err != nil {
					return 0, err
				}
				if b[i] == 'n' {
					e.FieldsV1 = nil
					return end, nil
				}
				e.FieldsV1 = new(metav1.FieldsV1)
				return end, e.FieldsV1.UnmarshalJSON(b[i:end])
			}
			return skipValue(b, i, depth)
		})
		if err != nil {
			return 0, err
		}
		out = append(out, e)
		return end, nil
	})
	if err != nil {
		return 0, err
	}
	*l = out
	return end, nil
}
