package novamed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input is a decoded JSON object whose fields are read one at a time, so
// that every problem (wrong type, aliases that disagree, bad format) becomes a
// field error instead of one opaque decoding failure. A JSON null reads as
// absent.
//
// An Input remembers every field name it was asked about (under any of its
// aliases) and the nested objects it handed out, so that Ignored can name
// the fields of the body that nothing read.
type Input struct {
	raw    map[string]json.RawMessage
	Errors []FieldError
	seen   map[string]bool
	kids   []nestedInput
}

// nestedInput is an object read from a field of its parent, named by the
// path prefix of its fields ("address", "contacts[0]").
type nestedInput struct {
	prefix string
	in     *Input
}

// see records names as fields the reader knows.
func (in *Input) see(names ...string) {
	if in.seen == nil {
		in.seen = make(map[string]bool, len(in.raw))
	}
	for _, n := range names {
		in.seen[n] = true
	}
}

// Known marks names as fields this request reads although nothing asked
// for them through the Input (a field read another way, or an accepted
// variant that is deliberately not used).
func (in *Input) Known(names ...string) { in.see(names...) }

// Ignored returns the fields of the body that nothing read, sorted: a
// nested field as a dotted path ("address.line_one"), a field of an item
// of an array of objects with its index ("contacts[0].kind"). A null
// field is ignored too when nothing reads it.
func (in *Input) Ignored() []string {
	var out []string
	in.ignored("", &out)
	sort.Strings(out)
	return out
}

func (in *Input) ignored(prefix string, out *[]string) {
	for k := range in.raw {
		if !in.seen[k] {
			*out = append(*out, prefix+k)
		}
	}
	for _, kid := range in.kids {
		kid.in.ignored(prefix+kid.prefix+".", out)
	}
}

// DecodeInput parses body as one JSON object.
func DecodeInput(body []byte) (*Input, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, &Error{Code: CodeInvalidJSON, Message: "Request body must be a JSON object."}
	}
	if !utf8.Valid(body) {
		return nil, &Error{Code: CodeInvalidJSON, Message: "Request body is not valid UTF-8."}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, &Error{Code: CodeInvalidJSON, Message: "Request body must be a JSON object."}
	}
	// Anything after the object is refused: More alone misses a stray
	// "]" or "}" (found by FuzzParsePatient: `{}]` was taken for `{}`).
	if dec.More() || len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, &Error{Code: CodeInvalidJSON, Message: "Request body must contain exactly one JSON object."}
	}
	if field, dup := duplicateKey(body); dup {
		// Parsers disagree on duplicate keys (first or last wins), which is
		// how request-smuggling and validation bypasses start: refuse them.
		return nil, &Error{Code: CodeInvalidJSON, Message: "Request body repeats the key " + strconv.Quote(field) + "."}
	}
	return &Input{raw: raw}, nil
}

// duplicateKey reports the first key repeated within one JSON object, at
// any depth. body is known to be valid JSON, so a byte walk that tracks
// strings and nesting is enough (json.Decoder.Token, used before, built an
// error value for every token and was 40% of decoding a patient). Keys are
// compared unescaped, so "a" and "\u0061" are the same key, as they are to
// any decoder.
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		object, expectKey bool
		keys              []string            // the first few keys: a scan beats a map
		many              map[string]struct{} // all keys, once there are many
	}
	const fewKeys = 16
	var stack []frame
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			stack = append(stack, frame{object: true, expectKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) == 0 {
				return "", false // not one JSON value; the decoder refuses it
			}
			stack = stack[:len(stack)-1]
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			end, escaped := i+1, false
			for ; end < len(body) && body[end] != '"'; end++ {
				if body[end] == '\\' {
					end++
					escaped = true
				}
			}
			n := len(stack)
			if n > 0 && stack[n-1].object && stack[n-1].expectKey {
				f := &stack[n-1]
				f.expectKey = false
				var key string
				// Escapes, and bytes that are not UTF-8 (a decoder reads
				// them as U+FFFD), need the decoder's reading of the key.
				if escaped || !utf8.Valid(body[i+1:end]) {
					if err := json.Unmarshal(body[i:end+1], &key); err != nil {
						return "", false
					}
				} else {
					key = string(body[i+1 : end])
				}
				if f.many != nil {
					if _, dup := f.many[key]; dup {
						return key, true
					}
					f.many[key] = struct{}{}
				} else {
					for _, k := range f.keys {
						if k == key {
							return key, true
						}
					}
					f.keys = append(f.keys, key)
					if len(f.keys) > fewKeys {
						f.many = make(map[string]struct{}, 2*len(f.keys))
						for _, k := range f.keys {
							f.many[k] = struct{}{}
						}
						f.keys = nil
					}
				}
			}
			i = end
		}
	}
	return "", false
}

// Add records a field problem.
func (in *Input) Add(field, format string, args ...any) {
	in.Errors = append(in.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns the validation error of all recorded problems, or nil.
func (in *Input) Err() error {
	if len(in.Errors) == 0 {
		return nil
	}
	return ValidationError(in.Errors)
}

// Has reports whether any of names is present and not null.
func (in *Input) Has(names ...string) bool {
	in.see(names...)
	for _, n := range names {
		if v, ok := in.raw[n]; ok && !isNull(v) {
			return true
		}
	}
	return false
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// lookup returns the first present (non-null) alias, or reports aliases that
// disagree.
func (in *Input) lookup(names []string) (name string, v json.RawMessage, ok bool) {
	in.see(names...)
	for _, n := range names {
		r, present := in.raw[n]
		if !present || isNull(r) {
			continue
		}
		if !ok {
			name, v, ok = n, r, true
			continue
		}
		if !bytes.Equal(bytes.TrimSpace(r), bytes.TrimSpace(v)) {
			in.Add(name, "%s and %s must not disagree; send one of them.", name, n)
		}
	}
	return name, v, ok
}

// String reads a string field under any of its names, trimmed. maxLen is in
// characters; multiline allows line breaks and tabs (free text).
func (in *Input) String(maxLen int, multiline bool, names ...string) string {
	name, v, ok := in.lookup(names)
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		in.Add(name, "%s must be a string.", name)
		return ""
	}
	return in.checkText(name, s, maxLen, multiline)
}

func (in *Input) checkText(name, s string, maxLen int, multiline bool) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxLen {
		in.Add(name, "%s must be at most %d characters.", name, maxLen)
		return ""
	}
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))) ||
			(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) {
			in.Add(name, "%s contains characters that are not allowed.", name)
			return ""
		}
	}
	return s
}

// Bool reads a boolean field; present reports whether it was sent.
func (in *Input) Bool(names ...string) (value, present bool) {
	name, v, ok := in.lookup(names)
	if !ok {
		return false, false
	}
	if err := json.Unmarshal(v, &value); err != nil {
		in.Add(name, "%s must be true or false.", name)
		return false, false
	}
	return value, true
}

// Number reads a positive number sent as a JSON number or a numeric string
// and returns it in canonical decimal text.
func (in *Input) Number(names ...string) string {
	name, v, ok := in.lookup(names)
	if !ok {
		return ""
	}
	var text string
	if err := json.Unmarshal(v, &text); err != nil {
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			in.Add(name, "%s must be a number.", name)
			return ""
		}
		text = n.String()
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || !(f > 0 && f <= 1e6) { // written so that NaN fails too
		in.Add(name, "%s must be a positive number.", name)
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// Strings reads an array of strings.
func (in *Input) Strings(maxItems, maxLen int, names ...string) []string {
	name, v, ok := in.lookup(names)
	if !ok {
		return nil
	}
	var items []string
	if err := json.Unmarshal(v, &items); err != nil {
		in.Add(name, "%s must be an array of strings.", name)
		return nil
	}
	if len(items) > maxItems {
		in.Add(name, "%s must have at most %d items.", name, maxItems)
		return nil
	}
	out := make([]string, 0, len(items))
	for i, s := range items {
		s = in.checkText(fmt.Sprintf("%s[%d]", name, i), s, maxLen, false)
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// StringOrStrings reads a string, or an array of strings joined by "; ".
func (in *Input) StringOrStrings(maxLen int, names ...string) string {
	name, v, ok := in.lookup(names)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return in.checkText(name, s, maxLen, true)
	}
	var items []string
	if json.Unmarshal(v, &items) == nil {
		for i := range items {
			items[i] = strings.TrimSpace(items[i])
		}
		return in.checkText(name, strings.Join(items, "; "), maxLen, true)
	}
	in.Add(name, "%s must be a string or an array of strings.", name)
	return ""
}

// Object reads a nested object; ok is false when absent or not an object.
func (in *Input) Object(name string) (*Input, bool) {
	in.see(name)
	v, present := in.raw[name]
	if !present || isNull(v) {
		return nil, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil || raw == nil {
		in.Add(name, "%s must be an object.", name)
		return nil, false
	}
	sub := &Input{raw: raw}
	in.kids = append(in.kids, nestedInput{name, sub})
	return sub, true
}

// Objects reads an array of objects.
func (in *Input) Objects(name string, maxItems int) []*Input {
	in.see(name)
	v, present := in.raw[name]
	if !present || isNull(v) {
		return nil
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		in.Add(name, "%s must be an array of objects.", name)
		return nil
	}
	if len(raws) > maxItems {
		in.Add(name, "%s must have at most %d items.", name, maxItems)
		return nil
	}
	out := make([]*Input, 0, len(raws))
	for i, r := range raws {
		if r == nil {
			in.Add(fmt.Sprintf("%s[%d]", name, i), "%s[%d] must be an object.", name, i)
			continue
		}
		sub := &Input{raw: r}
		in.kids = append(in.kids, nestedInput{fmt.Sprintf("%s[%d]", name, i), sub})
		out = append(out, sub)
	}
	return out
}

// Nested merges the problems of a nested input into in, prefixing field names.
func (in *Input) Nested(prefix string, sub *Input) {
	for _, e := range sub.Errors {
		in.Errors = append(in.Errors, FieldError{Field: prefix + "." + e.Field, Message: prefix + "." + e.Message})
	}
}

// Int reads a whole number from min to max, sent as a JSON number or a
// numeric string; absent reads as 0.
func (in *Input) Int(min, max int, names ...string) int {
	name, v, ok := in.lookup(names)
	if !ok {
		return 0
	}
	var text string
	if err := json.Unmarshal(v, &text); err != nil {
		text = string(bytes.TrimSpace(v))
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < min || n > max {
		in.Add(name, "%s must be a whole number from %d to %d.", name, min, max)
		return 0
	}
	return n
}
