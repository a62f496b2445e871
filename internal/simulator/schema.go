package simulator

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// schemaGen draws a JSON value that validates against a JSON Schema: tool
// arguments and json_schema answers. It covers the subset OpenAI's
// structured outputs accept (type and type lists, properties and required,
// items and prefixItems, enum, const, anyOf/oneOf/allOf, $ref into $defs or
// definitions, string formats, numeric and length bounds); a pattern is not
// generated (the string is drawn from words), which is documented.
type schemaGen struct {
	rng   *rand.Rand
	words []string
	root  map[string]any
}

// maxSchemaDepth bounds recursion through $ref: past it, arrays get their
// minimum length and optional properties are left out, so a recursive
// schema (a tree of nodes) always ends.
const maxSchemaDepth = 6

func newSchemaGen(rng *rand.Rand, words []string, root any) *schemaGen {
	m, _ := root.(map[string]any)
	return &schemaGen{rng: rng, words: words, root: m}
}

// value draws a value for schema s at recursion depth d.
func (g *schemaGen) value(s any, d int) any {
	m, ok := s.(map[string]any)
	if !ok {
		if b, isBool := s.(bool); isBool && !b {
			return nil // false admits nothing; null is the least wrong
		}
		return g.word() // true or missing: anything goes
	}
	if ref, ok := m["$ref"].(string); ok {
		if t := g.resolve(ref); t != nil && d < 2*maxSchemaDepth {
			return g.value(t, d+1)
		}
		return nil
	}
	if c, ok := m["const"]; ok {
		return c
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		return e[g.rng.IntN(len(e))]
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[k].([]any); ok && len(alts) > 0 {
			return g.value(g.pickAlt(alts, d), d+1)
		}
	}
	if all, ok := m["allOf"].([]any); ok && len(all) > 0 {
		return g.value(mergeAll(all, g), d+1)
	}
	switch t := schemaType(m, d); t {
	case "object":
		return g.object(m, d)
	case "array":
		return g.array(m, d)
	case "string":
		return g.str(m)
	case "integer":
		return g.integer(m)
	case "number":
		return g.number(m)
	case "boolean":
		return g.rng.IntN(2) == 1
	case "null":
		return nil
	default:
		return g.word()
	}
}

// schemaType is the schema's type: its "type" (the first non-null entry of
// a list, or null itself deep in a recursion), else what its keywords imply.
func schemaType(m map[string]any, d int) string {
	switch t := m["type"].(type) {
	case string:
		return t
	case []any:
		var first string
		for _, e := range t {
			s, _ := e.(string)
			if s == "null" && d >= maxSchemaDepth {
				return "null"
			}
			if first == "" && s != "null" {
				first = s
			}
		}
		if first != "" {
			return first
		}
		return "null"
	}
	switch {
	case m["properties"] != nil:
		return "object"
	case m["items"] != nil || m["prefixItems"] != nil:
		return "array"
	}
	return "string"
}

// pickAlt draws an alternative, preferring one that is not null (and, deep
// in a recursion, the null one, so the value ends).
func (g *schemaGen) pickAlt(alts []any, d int) any {
	isNull := func(a any) bool {
		m, _ := a.(map[string]any)
		return m != nil && m["type"] == "null"
	}
	var pool []any
	for _, a := range alts {
		if isNull(a) == (d >= maxSchemaDepth) {
			pool = append(pool, a)
		}
	}
	if len(pool) == 0 {
		pool = alts
	}
	return pool[g.rng.IntN(len(pool))]
}

// mergeAll folds allOf members into one object schema: properties and
// required lists are united; other keywords come from the first member
// that has them.
func mergeAll(all []any, g *schemaGen) map[string]any {
	out := map[string]any{}
	props := map[string]any{}
	var required []any
	for _, a := range all {
		m, _ := a.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = g.resolve(ref).(map[string]any)
		}
		for k, v := range m {
			switch k {
			case "properties":
				pm, _ := v.(map[string]any)
				for pk, pv := range pm {
					props[pk] = pv
				}
			case "required":
				r, _ := v.([]any)
				required = append(required, r...)
			default:
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	if len(props) > 0 {
		out["properties"] = props
		out["type"] = "object"
	}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// resolve follows a local reference ("#", "#/$defs/x", "#/definitions/x",
// any JSON pointer into the root schema).
func (g *schemaGen) resolve(ref string) any {
	if !strings.HasPrefix(ref, "#") {
		return nil
	}
	var cur any = g.root
	for _, part := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(ref, "#"), "/"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func (g *schemaGen) object(m map[string]any, d int) map[string]any {
	out := map[string]any{}
	props, _ := m["properties"].(map[string]any)
	required := map[string]bool{}
	if r, ok := m["required"].([]any); ok {
		for _, e := range r {
			if s, ok := e.(string); ok {
				required[s] = true
			}
		}
	}
	for _, k := range sortedKeys(props) {
		// Optional members are included near the top, left out deeper.
		if required[k] || (d < maxSchemaDepth/2 && g.rng.IntN(4) > 0) {
			out[k] = g.value(props[k], d+1)
		}
	}
	for k := range required {
		if _, ok := out[k]; !ok {
			out[k] = g.word() // required but undeclared: any value
		}
	}
	return out
}

func (g *schemaGen) array(m map[string]any, d int) []any {
	lo := intKeyword(m, "minItems", 0)
	hi := intKeyword(m, "maxItems", -1)
	n := lo
	if d < maxSchemaDepth {
		n = max(lo, 1+g.rng.IntN(3))
	}
	if hi >= 0 {
		n = min(n, hi)
	}
	prefix, _ := m["prefixItems"].([]any)
	out := make([]any, 0, max(n, len(prefix)))
	for i := 0; i < n || i < len(prefix); i++ {
		if i < len(prefix) {
			out = append(out, g.value(prefix[i], d+1))
			continue
		}
		items := m["items"]
		if b, ok := items.(bool); ok && !b {
			break
		}
		out = append(out, g.value(items, d+1))
	}
	if m["uniqueItems"] == true {
		out = uniqueValues(out)
	}
	return out
}

func (g *schemaGen) str(m map[string]any) string {
	var s string
	switch m["format"] {
	case "date-time":
		s = fmt.Sprintf("2026-%02d-%02dT%02d:%02d:00Z", 1+g.rng.IntN(12), 1+g.rng.IntN(28), g.rng.IntN(24), g.rng.IntN(60))
	case "date":
		s = fmt.Sprintf("2026-%02d-%02d", 1+g.rng.IntN(12), 1+g.rng.IntN(28))
	case "time":
		s = fmt.Sprintf("%02d:%02d:00Z", g.rng.IntN(24), g.rng.IntN(60))
	case "duration":
		s = fmt.Sprintf("PT%dM", 1+g.rng.IntN(59))
	case "email":
		s = g.word() + "@example.com"
	case "hostname":
		s = g.word() + ".example.com"
	case "uri":
		s = "https://example.com/" + g.word()
	case "ipv4":
		s = fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
	case "ipv6":
		s = fmt.Sprintf("fd00::%x", 1+g.rng.IntN(0xfffe))
	case "uuid":
		s = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Int64N(1<<48))
	default:
		words := 1 + g.rng.IntN(4)
		parts := make([]string, words)
		for i := range parts {
			parts[i] = g.word()
		}
		s = strings.Join(parts, " ")
	}
	if lo := intKeyword(m, "minLength", 0); len([]rune(s)) < lo {
		s += strings.Repeat("x", lo-len([]rune(s)))
	}
	if hi := intKeyword(m, "maxLength", -1); hi >= 0 && len([]rune(s)) > hi {
		s = string([]rune(s)[:hi])
	}
	return s
}

// bounds reads a numeric schema's range, exclusive bounds folded in by
// step (1 for integers, a small fraction for numbers).
func bounds(m map[string]any, step float64) (lo, hi float64) {
	lo, hi = 0, 100
	if v, ok := m["minimum"].(float64); ok {
		lo = v
	}
	if v, ok := m["exclusiveMinimum"].(float64); ok {
		lo = v + step
	}
	if v, ok := m["maximum"].(float64); ok {
		hi = v
		if _, hasMin := m["minimum"]; !hasMin && m["exclusiveMinimum"] == nil {
			lo = math.Min(lo, hi-100)
		}
	}
	if v, ok := m["exclusiveMaximum"].(float64); ok {
		hi = v - step
	}
	if hi < lo {
		hi = lo
	}
	if _, hasMax := m["maximum"]; !hasMax && m["exclusiveMaximum"] == nil {
		hi = math.Max(hi, lo+100)
	}
	return lo, hi
}

func (g *schemaGen) integer(m map[string]any) int64 {
	lo, hi := bounds(m, 1)
	a, b := int64(math.Ceil(lo)), int64(math.Floor(hi))
	if b < a {
		b = a
	}
	n := a + g.rng.Int64N(b-a+1)
	if mul, ok := m["multipleOf"].(float64); ok && mul >= 1 {
		k := int64(mul)
		n = (n / k) * k
		if n < a {
			n += k
		}
	}
	return n
}

func (g *schemaGen) number(m map[string]any) float64 {
	lo, hi := bounds(m, 0.01)
	v := math.Round((lo+g.rng.Float64()*(hi-lo))*100) / 100
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

func (g *schemaGen) word() string {
	if len(g.words) == 0 {
		return "value"
	}
	return strings.TrimSpace(g.words[g.rng.IntN(len(g.words))])
}

func intKeyword(m map[string]any, k string, def int) int {
	if v, ok := m[k].(float64); ok && v >= 0 {
		return int(v)
	}
	return def
}

// sortedKeys orders a map's keys: the schema's own order is lost in a map,
// and a stable one keeps answers reproducible for one seed.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// uniqueValues drops repeated scalars, for uniqueItems.
func uniqueValues(in []any) []any {
	seen := map[string]bool{}
	out := in[:0]
	for _, v := range in {
		k := fmt.Sprintf("%T:%v", v, v)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, v)
	}
	return out
}
