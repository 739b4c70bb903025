package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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

// TestGeneratedClientWorks: the document generates a Go client that
// compiles and runs the quickstart. oapi-codegen is the version go.mod pins
// as a tool, run with GOPROXY=off (nothing is downloaded during go test:
// `go build tool`, a step of scripts/test, puts it in the module cache);
// the client is generated into a temporary folder and laid over
// api/genclient with -overlay, whose tests (build tag genclient) run the
// quickstart against the in-process server.
func TestGeneratedClientWorks(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local")
	if err := generate(dir, env); err != nil {
		t.Fatalf("%v\n(if oapi-codegen is missing from the module cache, run `go build tool` once with the network)", err)
	}
	gen, err := os.ReadFile(filepath.Join(dir, "client.gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gen), "func NewClientWithResponses(") || !strings.HasPrefix(string(gen), "// Package genclient") {
		t.Fatalf("the generated client lacks NewClientWithResponses (%d bytes)", len(gen))
	}
	pkg, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(pkg, "client.gen.go"): filepath.Join(dir, "client.gen.go")}})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"test", "-count=1", "-tags", "genclient", "-overlay", ov, "-timeout", "5m"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-v", "-run", "^TestQuickstartThroughGeneratedClient$", ".")
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = pkg, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestQuickstartThroughGeneratedClient") {
		t.Fatalf("the generated client's quickstart did not run:\n%s", out)
	}
	t.Logf("generated %d lines; %s", strings.Count(string(gen), "\n"), strings.TrimSpace(string(out[strings.LastIndex(string(out[:len(out)-1]), "\n")+1:])))
}
