package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/novamed/partner-api/api"
)

// TestAdminDocumentMatchesRouteTable holds api/admin-openapi.yaml to the
// admin route table both ways: every route is documented, with the
// capability its role check uses, behind the operator token, with its
// error answers; the document names no route the table lacks. The
// document must also load and validate (examples against their schemas).
func TestAdminDocumentMatchesRouteTable(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.AdminYAML())
	if err != nil {
		t.Fatalf("api/admin-openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/admin-openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if len(doc.Security) != 1 || doc.Security[0]["operatorToken"] == nil || doc.Components.SecuritySchemes["operatorToken"] == nil {
		t.Errorf("the document's security is not the operator token (bearer op_…)")
	}
	table := map[string]AdminRouteInfo{}
	for _, rt := range AdminRoutes() {
		table[rt.Pattern] = rt
	}
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	var missing []string
	for pattern, rt := range table {
		op, ok := documented[pattern]
		if !ok {
			missing = append(missing, pattern)
			method, path, _ := strings.Cut(pattern, " ")
			t.Errorf("admin route %s is not in api/admin-openapi.yaml. Add under paths:\n  %s:\n    %s:\n      operationId: …\n      summary: …\n      tags: [a tag of the document]\n"+
				"      x-capability: %s\n      description: Needs the `%s` capability (roles: …).\n%s"+
				"      responses: {'200': {description, content: application/json with schema {success: {const: true}, data: …} and an example}, '400': {$ref: '#/components/responses/BadRequest'}, "+
				"'401': {$ref: '#/components/responses/Unauthorized'}, '403': {$ref: '#/components/responses/Forbidden'}%s}\n"+
				"(and a requestBody with a schema and an example if it takes a body)",
				pattern, path, strings.ToLower(method), rt.Capability, rt.Capability, pathParams(path), notFound(path))
			continue
		}
		if got, _ := op.Extensions["x-capability"].(string); got != string(rt.Capability) {
			t.Errorf("%s: the document says x-capability %q, the route table %q", pattern, got, rt.Capability)
		}
		if op.OperationID == "" || op.Summary == "" || len(op.Tags) != 1 {
			t.Errorf("%s: needs an operationId, a summary and one tag", pattern)
		}
		for _, code := range []int{200, 400, 401, 403} {
			if op.Responses.Status(code) == nil {
				t.Errorf("%s: no %d answer documented", pattern, code)
			}
		}
		if r := op.Responses.Status(200); r != nil && (r.Value.Content.Get("application/json") == nil || r.Value.Content.Get("application/json").Example == nil) {
			t.Errorf("%s: its 200 answer has no JSON example", pattern)
		}
	}
	for pattern := range documented {
		if _, ok := table[pattern]; !ok {
			t.Errorf("api/admin-openapi.yaml documents %s, which the admin route table (internal/httpapi/admin.go) does not have: remove it or add the route", pattern)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Logf("undocumented admin routes: %s", strings.Join(missing, ", "))
	}
	if len(documented) < 40 {
		t.Errorf("only %d operations documented", len(documented))
	}
}

func pathParams(path string) string {
	var b strings.Builder
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			if b.Len() == 0 {
				b.WriteString("      parameters:\n")
			}
			fmt.Fprintf(&b, "        - {name: %s, in: path, required: true, description: …, schema: {type: string}}\n", strings.Trim(seg, "{}"))
		}
	}
	return b.String()
}

func notFound(path string) string {
	if strings.Contains(path, "{") {
		return ", '404': {$ref: '#/components/responses/NotFound'}"
	}
	return ""
}
