package web

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// detailField is one line of an audit event's detail as the Audit page
// lists it.
type detailField struct {
	// Key is the field's name, nested names joined with dots
	// ("before.tags"); empty for a detail that is not a JSON object.
	Key string
	// Value is a string as is, a list of plain values joined with ", ", a
	// null as "—", anything else as compact JSON.
	Value string
}

// detailFields lists an audit event's detail (any JSON value) as key/value
// lines, keys sorted, nested objects flattened.
func detailFields(detail any) []detailField {
	raw, err := json.Marshal(detail)
	if err != nil {
		return []detailField{{Value: "?"}}
	}
	return appendFields(nil, "", raw)
}

// appendFields appends the fields of raw, named under prefix.
func appendFields(out []detailField, prefix string, raw json.RawMessage) []detailField {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return append(out, detailField{Key: prefix, Value: valueText(raw)})
	}
	if len(obj) == 0 {
		return append(out, detailField{Key: prefix, Value: "—"})
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		out = appendFields(out, name, obj[k])
	}
	return out
}

// valueText shows one JSON value that is not an object.
func valueText(raw json.RawMessage) string {
	if string(bytes.TrimSpace(raw)) == "null" {
		return "—"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil && list != nil {
		items := make([]string, 0, len(list))
		for _, v := range list {
			if t := bytes.TrimSpace(v); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
				return string(raw) // nested structure: JSON says it best
			}
			items = append(items, valueText(v))
		}
		if len(items) == 0 {
			return "—"
		}
		return strings.Join(items, ", ")
	}
	return string(raw)
}

// indentJSON is v as indented JSON, for the raw view of a detail.
func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "?"
	}
	return string(b)
}
