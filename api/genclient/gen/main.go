// Command gen generates a Go client from api/openapi.yaml with oapi-codegen,
// pinned as a tool in go.mod, into a folder of your choice:
//
//	go run ./api/genclient/gen -o /tmp/genclient
//
// Nothing generated is committed: partners use the SDK (client/, its own
// module). TestGeneratedClientWorks generates the client into a temporary
// folder with the module proxy off and runs the quickstart through it
// against the in-process server (api/genclient), so a document that no
// longer generates a working client fails the suite.
//
// oapi-codegen v2.8.2 reads OpenAPI 3.0 only, so gen feeds it a copy of the
// document downgraded to 3.0.3 in a temporary folder; the document itself
// stays 3.1. The downgrade rewrites what 3.0 cannot say and drops what a
// client's types do not need:
//
//   - `type: [T, "null"]`, a `null` in an enum and `oneOf: [X, {type: "null"}]`
//     become `nullable: true`;
//   - `const` becomes a one-value `enum`; schema `examples` becomes `example`;
//     a numeric `exclusiveMinimum` becomes `minimum` + `exclusiveMinimum: true`;
//   - the validation-only parts that would otherwise turn plain request
//     objects into unions are dropped: `if`/`then`, `propertyNames`, and
//     `allOf`/`anyOf` lists whose branches only say which alias is required
//     (e.g. `clinic_id` or `assigned_clinic`); an error response's
//     `allOf: [ErrorEnvelope, {code: …}]` becomes the plain ErrorEnvelope;
//   - `webhooks` (3.1 only; NovaMed calls the partner, not the reverse),
//     `info.summary` and `info.license.identifier` are left out.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/novamed/partner-api/api"
)

// config is oapi-codegen's configuration: types and a client in package
// genclient; the output path is added per run.
const config = `package: genclient
generate:
  client: true
  models: true
`

func main() {
	out := flag.String("o", "", "the folder to write client.gen.go into (created if missing)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -o FOLDER is required")
		os.Exit(2)
	}
	if err := generate(*out, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// generate writes dir/client.gen.go, running `go tool oapi-codegen` (the
// version go.mod pins) with env as its environment; it must run inside the
// server module.
func generate(dir string, env []string) error {
	if dir == "" {
		return errors.New("no output folder")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := api.JSON()
	if err != nil {
		return err
	}
	down, err := Downgrade(src)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "novamed-genclient-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	spec := filepath.Join(work, "openapi-3.0.json")
	if err := os.WriteFile(spec, down, 0o600); err != nil {
		return err
	}
	cfg := filepath.Join(work, "oapi-codegen.yaml")
	out, _ := json.Marshal(filepath.Join(dir, "client.gen.go")) // a JSON string is a YAML string
	if err := os.WriteFile(cfg, []byte(config+"output: "+string(out)+"\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", cfg, spec)
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go tool oapi-codegen: %w\n%s", err, b)
	}
	return nil
}

// Downgrade turns the OpenAPI 3.1 document (JSON) into the 3.0.3 document
// oapi-codegen generates from; see the package comment.
func Downgrade(src []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	doc["openapi"] = "3.0.3"
	delete(doc, "webhooks")
	if info, ok := doc["info"].(map[string]any); ok {
		delete(info, "summary")
		if lic, ok := info["license"].(map[string]any); ok {
			delete(lic, "identifier")
		}
	}
	if comps, ok := doc["components"].(map[string]any); ok {
		for _, s := range asMap(comps["schemas"]) {
			schema(asMap(s))
		}
		for _, p := range asMap(comps["parameters"]) {
			schema(asMap(asMap(p)["schema"]))
		}
		for _, h := range asMap(comps["headers"]) {
			schema(asMap(asMap(h)["schema"]))
		}
		for _, r := range asMap(comps["responses"]) {
			content(asMap(r))
		}
	}
	for _, item := range asMap(doc["paths"]) {
		for _, op := range asMap(item) {
			op := asMap(op)
			params := map[string]any{}
			for _, p := range asSlice(op["parameters"]) {
				schema(asMap(asMap(p)["schema"]))
				if name, ok := asMap(p)["name"].(string); ok {
					params[name] = p
				}
			}
			nameAliases(params)
			if rb := asMap(op["requestBody"]); rb != nil {
				content(rb)
			}
			for _, r := range asMap(op["responses"]) {
				r := asMap(r)
				content(r)
				for _, h := range asMap(r["headers"]) {
					schema(asMap(asMap(h)["schema"]))
				}
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func content(holder map[string]any) {
	for _, mt := range asMap(holder["content"]) {
		schema(asMap(asMap(mt)["schema"]))
	}
}

// schema rewrites one schema object and its subschemas in place.
func schema(s map[string]any) {
	if s == nil {
		return
	}
	if _, ok := s["$ref"]; ok {
		for k := range s {
			if k != "$ref" {
				delete(s, k) // 3.0: siblings of $ref are ignored
			}
		}
		return
	}
	if t, ok := s["type"].([]any); ok {
		var rest []any
		for _, x := range t {
			if x == "null" {
				s["nullable"] = true
			} else {
				rest = append(rest, x)
			}
		}
		if len(rest) == 1 {
			s["type"] = rest[0]
		} else {
			delete(s, "type")
		}
	}
	if c, ok := s["const"]; ok {
		s["enum"] = []any{c}
		delete(s, "const")
	}
	if e, ok := s["enum"].([]any); ok {
		var rest []any
		for _, x := range e {
			if x == nil {
				s["nullable"] = true
			} else {
				rest = append(rest, x)
			}
		}
		s["enum"] = rest
	}
	if ex, ok := s["examples"].([]any); ok {
		if len(ex) > 0 {
			s["example"] = ex[0]
		}
		delete(s, "examples")
	}
	if v, ok := s["exclusiveMinimum"].(float64); ok {
		s["minimum"], s["exclusiveMinimum"] = v, true
	}
	delete(s, "if")
	delete(s, "then")
	delete(s, "else")
	delete(s, "propertyNames")
	if one, ok := s["oneOf"].([]any); ok {
		var rest []any
		for _, b := range one {
			if asMap(b)["type"] == "null" {
				s["nullable"] = true
			} else {
				rest = append(rest, b)
			}
		}
		switch {
		case len(rest) == 1 && asMap(rest[0])["$ref"] != nil:
			s["allOf"] = rest
			delete(s, "oneOf")
		default:
			s["oneOf"] = rest
		}
	}
	for _, key := range []string{"allOf", "anyOf"} {
		list, ok := s[key].([]any)
		if !ok {
			continue
		}
		var keep []any
		for _, b := range list {
			if !onlyRequired(asMap(b)) {
				keep = append(keep, b)
			}
		}
		// [ErrorEnvelope, {properties: {error: {properties: {code: …}}}}]:
		// the second branch only narrows values.
		if key == "allOf" && len(keep) == 2 && asMap(keep[0])["$ref"] != nil && onlyNarrows(asMap(keep[1])) {
			keep = keep[:1]
		}
		if len(keep) == 0 {
			delete(s, key)
		} else {
			s[key] = keep
		}
	}
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 && len(s) == 1 {
		// A lone allOf of a $ref is the $ref itself.
		if ref, ok := asMap(all[0])["$ref"]; ok {
			delete(s, "allOf")
			s["$ref"] = ref
		}
	}
	for _, p := range asMap(s["properties"]) {
		schema(asMap(p))
	}
	nameAliases(asMap(s["properties"]))
	if m := asMap(s["additionalProperties"]); m != nil {
		schema(m)
	}
	schema(asMap(s["items"]))
	schema(asMap(s["not"]))
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		for _, b := range asSlice(s[key]) {
			schema(asMap(b))
		}
	}
}

// onlyRequired reports a schema that only lists required properties, or a
// list of such schemas (an "one of these aliases" rule).
func onlyRequired(s map[string]any) bool {
	for k, v := range s {
		switch k {
		case "required":
		case "anyOf", "oneOf", "allOf":
			for _, b := range asSlice(v) {
				if !onlyRequired(asMap(b)) {
					return false
				}
			}
		default:
			return false
		}
	}
	return len(s) > 0
}

// onlyNarrows reports a schema with no type or $ref of its own: it only
// narrows the values of properties another branch defines.
func onlyNarrows(s map[string]any) bool {
	if _, ok := s["type"]; ok {
		return false
	}
	if _, ok := s["$ref"]; ok {
		return false
	}
	for k := range s {
		if k != "properties" && k != "required" {
			return false
		}
	}
	for _, p := range asMap(s["properties"]) {
		if !onlyNarrows(asMap(p)) {
			if pm := asMap(p); pm != nil {
				if _, hasType := pm["type"]; hasType {
					continue // e.g. retry_after: {type: integer}: already in ErrorInfo
				}
			}
			if _, isEnum := asMap(p)["enum"]; isEnum {
				continue
			}
			if _, isConst := asMap(p)["const"]; isConst {
				continue
			}
			return false
		}
	}
	return true
}

// nameAliases gives the aliases of one field distinct Go names: the
// documented spellings address_line_1, address_line1 and addressLine1 all
// become AddressLine1 in Go. The spelling with the most underscores (the
// one NovaMed answers with) keeps the plain name; a camelCase alias gets
// the suffix Camel, another snake_case alias the suffix Alias.
func nameAliases(props map[string]any) {
	groups := map[string][]string{}
	for name := range props {
		k := strings.ToLower(strings.ReplaceAll(name, "_", ""))
		groups[k] = append(groups[k], name)
	}
	for _, names := range groups {
		if len(names) < 2 {
			continue
		}
		sort.Slice(names, func(i, j int) bool {
			ui, uj := strings.Count(names[i], "_"), strings.Count(names[j], "_")
			if ui != uj {
				return ui > uj
			}
			return names[i] < names[j]
		})
		for _, alias := range names[1:] {
			suffix := "Alias"
			if strings.ToLower(alias) != alias {
				suffix = "Camel"
			}
			asMap(props[alias])["x-go-name"] = goName(names[0]) + suffix
		}
	}
}

// goName is the Go name oapi-codegen gives a snake_case field.
func goName(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
