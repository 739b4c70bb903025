package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// NovaMed's published partner pages (guides, API reference, partner OpenAPI
// document) are the interface partners code against. Their examples are kept
// in testdata/published-examples.json: every fenced code block of the pages
// and every example of the partner OpenAPI document, without the pages'
// prose. TestPublishedExamples (published_test.go) sends them to a fresh
// development server; this file extracts them.
//
// To refresh the fixtures after the pages change:
//
//	go test ./cmd/novamed -run TestPublishedFixturesAreCurrent -published-pages DIR -update-published
//
// where DIR is the pages' folder (the one holding guides/ and
// openapi-partner.yaml). Without -update-published the test compares.

var (
	publishedPages  = flag.String("published-pages", "", "folder of NovaMed's published partner pages (default: ../shared/reference/novamed-docs beside the repository, when present)")
	updatePublished = flag.Bool("update-published", false, "rewrite testdata/published-examples.json from -published-pages")
)

const publishedFixture = "testdata/published-examples.json"

// publishedExamples is the fixture file.
type publishedExamples struct {
	Source     string          `json:"source"`
	Blocks     []pageBlock     `json:"blocks"`
	Operations []pageOperation `json:"operations"`
}

// pageBlock is one fenced code block of a markdown page.
type pageBlock struct {
	Page string `json:"page"`
	Line int    `json:"line"`
	Lang string `json:"lang"`
	Text string `json:"text"`
}

// pageOperation is one operation of the partner OpenAPI document with its
// examples.
type pageOperation struct {
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Params    map[string]string `json:"params,omitempty"` // parameter name → example
	Requests  []namedExample    `json:"requests,omitempty"`
	Responses []namedExample    `json:"responses,omitempty"`
}

// namedExample is one example value; Status is set on response examples.
type namedExample struct {
	Status string `json:"status,omitempty"`
	Name   string `json:"name"`
	Value  any    `json:"value"`
}

// pagesFolder is the published pages' folder, or "" when it is not here.
func pagesFolder() string {
	if *publishedPages != "" {
		return *publishedPages
	}
	for _, d := range []string{"../../../shared/reference/novamed-docs", "../../shared/reference/novamed-docs"} {
		if _, err := os.Stat(filepath.Join(d, "openapi-partner.yaml")); err == nil {
			return d
		}
	}
	return ""
}

var fenceRE = regexp.MustCompile("^(\\s*)```\\s*([A-Za-z0-9_+-]*)\\s*$")

// extractPages reads every code block of the markdown pages and every example
// of the partner OpenAPI document under dir.
func extractPages(dir string) (*publishedExamples, error) {
	out := &publishedExamples{Source: "NovaMed published partner pages (partner portal repository, commit 13b5a39, 2026-01-12): code blocks and OpenAPI examples only"}
	pages, err := filepath.Glob(filepath.Join(dir, "guides", "*.md"))
	if err != nil {
		return nil, err
	}
	pages = append(pages, filepath.Join(dir, "api-reference.md"))
	sort.Strings(pages)
	for _, p := range pages {
		rel, _ := filepath.Rel(dir, p)
		blocks, err := markdownBlocks(p, filepath.ToSlash(rel))
		if err != nil {
			return nil, err
		}
		out.Blocks = append(out.Blocks, blocks...)
	}
	ops, err := openAPIExamples(filepath.Join(dir, "openapi-partner.yaml"))
	if err != nil {
		return nil, err
	}
	out.Operations = ops
	return out, nil
}

func markdownBlocks(path, page string) ([]pageBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []pageBlock
	var cur *pageBlock
	var indent string
	var body []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		m := fenceRE.FindStringSubmatch(line)
		switch {
		case cur == nil && m != nil:
			cur, indent, body = &pageBlock{Page: page, Line: n, Lang: m[2]}, m[1], nil
		case cur != nil && m != nil && m[2] == "":
			cur.Text = strings.Join(body, "\n")
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body = append(body, strings.TrimPrefix(line, indent))
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: code block never closed", page, cur.Line)
	}
	return blocks, sc.Err()
}

func openAPIExamples(path string) ([]pageOperation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name    string `yaml:"name"`
				Example any    `yaml:"example"`
				Schema  struct {
					Example any `yaml:"example"`
				} `yaml:"schema"`
			} `yaml:"parameters"`
			RequestBody struct {
				Content map[string]mediaExamples `yaml:"content"`
			} `yaml:"requestBody"`
			Responses map[string]struct {
				Content map[string]mediaExamples `yaml:"content"`
			} `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var ops []pageOperation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			o := pageOperation{Method: strings.ToUpper(method), Path: path}
			for _, p := range op.Parameters {
				ex := p.Example
				if ex == nil {
					ex = p.Schema.Example
				}
				if ex != nil {
					if o.Params == nil {
						o.Params = map[string]string{}
					}
					o.Params[p.Name] = fmt.Sprint(ex)
				}
			}
			o.Requests = op.RequestBody.Content["application/json"].list("")
			for status, r := range op.Responses {
				o.Responses = append(o.Responses, r.Content["application/json"].list(status)...)
			}
			sort.Slice(o.Responses, func(i, j int) bool {
				a, b := o.Responses[i], o.Responses[j]
				return a.Status < b.Status || a.Status == b.Status && a.Name < b.Name
			})
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		return ops[i].Path < ops[j].Path || ops[i].Path == ops[j].Path && ops[i].Method < ops[j].Method
	})
	return ops, nil
}

type mediaExamples struct {
	Example  any `yaml:"example"`
	Examples map[string]struct {
		Value any `yaml:"value"`
	} `yaml:"examples"`
}

func (m mediaExamples) list(status string) []namedExample {
	var out []namedExample
	if m.Example != nil {
		out = append(out, namedExample{Status: status, Name: "example", Value: jsonValue(m.Example)})
	}
	names := make([]string, 0, len(m.Examples))
	for n := range m.Examples {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, namedExample{Status: status, Name: n, Value: jsonValue(m.Examples[n].Value)})
	}
	return out
}

// jsonValue turns a decoded YAML value into what encoding/json would decode
// from the same JSON (map[string]any, []any, float64, string, bool, nil).
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// loadPublished reads the fixture file.
func loadPublished(t testing.TB) *publishedExamples {
	t.Helper()
	b, err := os.ReadFile(publishedFixture)
	if err != nil {
		t.Fatalf("read %s: %v", publishedFixture, err)
	}
	var ex publishedExamples
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatalf("decode %s: %v", publishedFixture, err)
	}
	return &ex
}

// TestPublishedFixturesAreCurrent checks that the fixture holds exactly the
// examples of the published pages, when the pages are on this machine.
func TestPublishedFixturesAreCurrent(t *testing.T) {
	t.Parallel()
	dir := pagesFolder()
	if dir == "" {
		t.Skip("SKIPPED: the published pages are not on this machine (pass -published-pages DIR); TestPublishedExamples still runs every example from " + publishedFixture)
	}
	ex, err := extractPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updatePublished {
		if err := os.WriteFile(publishedFixture, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d blocks, %d operations", publishedFixture, len(ex.Blocks), len(ex.Operations))
		return
	}
	got, err := os.ReadFile(publishedFixture)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs from the examples of the pages in %s: run with -update-published, then make TestPublishedExamples classify and pass every new example", publishedFixture, dir)
	}
	if n := len(ex.Blocks); n < 60 || !slices.ContainsFunc(ex.Operations, func(o pageOperation) bool { return len(o.Requests) > 0 }) {
		t.Fatalf("extraction found only %d blocks: the parser is broken", n)
	}
}
