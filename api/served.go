package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Served is the OpenAPI document as one server serves it: its servers
// entry names that server's URL, and every operation carries
// x-codeSamples (curl and the Go SDK).
type Served struct {
	YAML []byte
	JSON []byte
}

// CodeSample is one entry of an operation's x-codeSamples (the Redoc
// extension).
type CodeSample struct {
	Lang   string `json:"lang"`
	Label  string `json:"label"`
	Source string `json:"source"`
}

var methods = []string{"get", "put", "post", "patch", "delete"}

// ServedDocument returns the document for a server answering at serverURL
// (scheme, host and optional path prefix, e.g. https://api.example.com).
func ServedDocument(serverURL string) (*Served, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(openapiYAML, &root); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	doc := root.Content[0]
	servers := mapValue(doc, "servers")
	if servers == nil || servers.Kind != yaml.SequenceNode {
		return nil, errors.New("api: openapi.yaml has no servers")
	}
	servers.Content = []*yaml.Node{mapping(
		"url", strings.TrimRight(serverURL, "/"),
		"description", "The server that served this document (its --public-url when set).")}
	paths := mapValue(doc, "paths")
	if paths == nil {
		return nil, errors.New("api: openapi.yaml has no paths")
	}
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path, item := paths.Content[i].Value, paths.Content[i+1]
		for j := 0; j+1 < len(item.Content); j += 2 {
			method, op := item.Content[j].Value, item.Content[j+1]
			if !isMethod(method) {
				continue
			}
			samples, err := samplesFor(doc, strings.ToUpper(method), path, op)
			if err != nil {
				return nil, err
			}
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, s := range samples {
				seq.Content = append(seq.Content, mapping("lang", s.Lang, "label", s.Label, "source", s.Source))
			}
			op.Content = append(op.Content, scalar("x-codeSamples"), seq)
		}
	}
	y, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("api: served document: %w", err)
	}
	j, err := yamlToJSON(y)
	if err != nil {
		return nil, fmt.Errorf("api: served document: %w", err)
	}
	return &Served{YAML: y, JSON: j}, nil
}

// CodeSamples returns the samples of the operation method path of the
// document (the same as the served document's x-codeSamples).
func CodeSamples(method, path string) ([]CodeSample, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(openapiYAML, &root); err != nil {
		return nil, err
	}
	doc := root.Content[0]
	item := mapValue(mapValue(doc, "paths"), path)
	op := mapValue(item, strings.ToLower(method))
	if op == nil {
		return nil, fmt.Errorf("api: no operation %s %s", method, path)
	}
	return samplesFor(doc, method, path, op)
}

// GoSampleIDs lists the operations that have a Go sample, sorted.
func GoSampleIDs() []string {
	ids := make([]string, 0, len(goSamples))
	for id := range goSamples {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// GoSample returns the Go sample of an operation as written (without the
// client setup) and whether there is one.
func GoSample(operationID string) (string, bool) {
	s, ok := goSamples[operationID]
	return s, ok
}

func samplesFor(doc *yaml.Node, method, path string, op *yaml.Node) ([]CodeSample, error) {
	idNode := mapValue(op, "operationId")
	if idNode == nil {
		return nil, fmt.Errorf("api: %s %s has no operationId", method, path)
	}
	curl, err := curlSample(doc, method, path, op)
	if err != nil {
		return nil, err
	}
	samples := []CodeSample{{Lang: "Shell", Label: "curl", Source: curl}}
	// An operation without a Go sample is served with curl only (the
	// reference stays up); TestEveryOperationHasCodeSamples refuses it.
	if goSrc, ok := goSamples[idNode.Value]; ok {
		if usesClient(goSrc) {
			goSrc = goSampleSetup + goSrc
		}
		samples = append(samples, CodeSample{Lang: "Go", Label: "Go SDK", Source: goSrc})
	}
	return samples, nil
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// curlSample writes the operation as a curl command: its method and path
// (path parameters as shell variables), the key and the first request
// example of its body.
func curlSample(doc *yaml.Node, method, path string, op *yaml.Node) (string, error) {
	segments := strings.Split(path, "/")
	shellPath := pathParam.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		if name == "id" {
			// {id} names the resource of the segment before it.
			for i, s := range segments {
				if s == m && i > 0 {
					name = segments[i-1] + "_id"
				}
			}
		}
		return "$" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(camelToSnake(name)))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "curl -X %s \"$NOVAMED_BASE_URL%s\"", method, shellPath)
	if !isPublic(op) {
		b.WriteString(" \\\n  -H \"x-api-key: $NOVAMED_API_KEY\"")
	}
	b.WriteString(" \\\n  -H \"Accept: application/json\"")
	body, ctype, err := requestExample(doc, op)
	if err != nil {
		return "", fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if body != "" {
		fmt.Fprintf(&b, " \\\n  -H \"Content-Type: %s\"", ctype)
		if method == "POST" || method == "PATCH" {
			b.WriteString(" \\\n  -H \"Idempotency-Key: $(uuidgen)\"")
		}
		fmt.Fprintf(&b, " \\\n  -d '%s'", strings.ReplaceAll(body, "'", `'\''`))
	}
	return b.String(), nil
}

func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isPublic reports whether the operation needs no key (security: []).
func isPublic(op *yaml.Node) bool {
	s := mapValue(op, "security")
	return s != nil && s.Kind == yaml.SequenceNode && len(s.Content) == 0
}

// requestExample returns the first example of the operation's request
// body as indented JSON, and its media type ("" without a body).
func requestExample(doc *yaml.Node, op *yaml.Node) (string, string, error) {
	content := mapValue(mapValue(op, "requestBody"), "content")
	if content == nil {
		return "", "", nil
	}
	for i := 0; i+1 < len(content.Content); i += 2 {
		ctype, media := content.Content[i].Value, content.Content[i+1]
		examples := mapValue(media, "examples")
		if examples == nil || len(examples.Content) < 2 {
			continue
		}
		value := mapValue(resolve(doc, examples.Content[1]), "value")
		if value == nil {
			continue
		}
		var buf strings.Builder
		raw, err := nodeJSON(value)
		if err != nil {
			return "", "", err
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", "", err
		}
		out, err := json.MarshalIndent(v, "  ", "  ")
		if err != nil {
			return "", "", err
		}
		buf.Write(out)
		return buf.String(), ctype, nil
	}
	return "", "", nil
}

func nodeJSON(n *yaml.Node) ([]byte, error) {
	y, err := yaml.Marshal(n)
	if err != nil {
		return nil, err
	}
	return yamlToJSON(y)
}

// resolve follows an aliases and a local $ref.
func resolve(doc, n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if ref := mapValue(n, "$ref"); ref != nil && strings.HasPrefix(ref.Value, "#/") {
		cur := doc
		for _, part := range strings.Split(ref.Value[2:], "/") {
			cur = mapValue(cur, strings.NewReplacer("~1", "/", "~0", "~").Replace(part))
		}
		if cur != nil {
			return cur
		}
	}
	return n
}

func isMethod(s string) bool {
	for _, m := range methods {
		if s == m {
			return true
		}
	}
	return false
}

// mapValue returns the value of key in mapping n (following aliases), or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func mapping(kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		v := scalar(kv[i+1])
		if strings.Contains(kv[i+1], "\n") {
			v.Style = yaml.LiteralStyle
		}
		m.Content = append(m.Content, scalar(kv[i]), v)
	}
	return m
}
