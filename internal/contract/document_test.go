package contract

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestDocumentLoadsAndValidates(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
}

var routeLine = regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+) ([^"]+)"`)

// TestEveryRouteIsDocumented compares the routes registered in
// internal/httpapi/routes.go with the document's operations, both ways.
func TestEveryRouteIsDocumented(t *testing.T) {
	src, err := os.ReadFile("../httpapi/routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range routeLine.FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, m[1]+" "+strings.ReplaceAll(m[2], "{$}", "")) // "/docs/{$}" is the path /docs/
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d routes in routes.go; has its style changed?", len(routes))
	}
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in api/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("api/openapi.yaml documents %s, which routes.go does not register", d)
		}
	}
	// The overview table at the top of the document names every operation.
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		if !strings.Contains(doc.Info.Description, "`"+method+" "+path+"`") {
			t.Errorf("the Endpoints table in info.description lacks %s", d)
		}
	}
	if t.Failed() {
		t.Logf("routes:\n%s", strings.Join(routes, "\n"))
	}
}
