package main

import (
	"context"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/novamed/partner-api/api"
)

// TestDowngradeIsOpenAPI30 checks the copy oapi-codegen generates from: a
// valid OpenAPI 3.0 document with every operation of the original.
func TestDowngradeIsOpenAPI30(t *testing.T) {
	src, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	down, err := Downgrade(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, only31 := range []string{`"webhooks"`, `"const"`, `"null"`, `"propertyNames"`, `"if"`} {
		if strings.Contains(string(down), only31+":") || strings.Contains(string(down), only31+",") {
			t.Errorf("the 3.0 copy still has %s", only31)
		}
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(down)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("the 3.0 copy is not a valid OpenAPI 3.0 document: %v", err)
	}
	orig, err := openapi3.NewLoader().LoadFromData(api.YAML())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := len(doc.Paths.Map()), len(orig.Paths.Map()); a != b {
		t.Errorf("the 3.0 copy has %d paths, the document %d", a, b)
	}
}
