package api

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGoSamplesFileIsCurrent: codesamples_gen_test.go, which compiles every
// Go sample against the SDK, is generated from the samples as they are.
func TestGoSamplesFileIsCurrent(t *testing.T) {
	got, err := os.ReadFile("codesamples_gen_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, GoSamplesTestFile()) {
		t.Fatal("api/codesamples_gen_test.go is stale: run go generate ./api")
	}
}

// TestEveryOperationHasCodeSamples: the served document names the server
// it was served by, and each operation carries a curl sample naming its
// method and path and a Go sample (no sample is left without an operation).
func TestEveryOperationHasCodeSamples(t *testing.T) {
	served, err := ServedDocument("https://partner-api.novamed.test/")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct{ URL string }
		Paths   map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(served.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "https://partner-api.novamed.test" {
		t.Errorf("servers %+v, want the one URL it was served for", doc.Servers)
	}
	used := map[string]bool{}
	ops := 0
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !isMethod(method) {
				continue
			}
			ops++
			var op struct {
				OperationID string       `json:"operationId"`
				Samples     []CodeSample `json:"x-codeSamples"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			used[op.OperationID] = true
			var curl, goSrc string
			for _, s := range op.Samples {
				switch s.Lang {
				case "Shell":
					curl = s.Source
				case "Go":
					goSrc = s.Source
				}
			}
			M := strings.ToUpper(method)
			// The path with its parameters as shell variables.
			pattern := "^curl -X " + M + ` "\$NOVAMED_BASE_URL` +
				regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `\$[A-Z_]+`) + `"`
			if !regexp.MustCompile(pattern).MatchString(curl) {
				t.Errorf("%s %s: curl sample does not name the method and path:\n%s", M, path, curl)
			}
			want, _ := GoSample(op.OperationID)
			if goSrc == "" || !strings.Contains(goSrc, want) {
				t.Errorf("%s %s (%s): no Go sample, or not the one of api/codesamples.go", M, path, op.OperationID)
			}
			if bodyOp := strings.Contains(string(raw), `"requestBody"`); bodyOp != strings.Contains(curl, " -d '") {
				t.Errorf("%s %s: the curl sample's body does not follow the operation's", M, path)
			}
		}
	}
	if ops < 30 {
		t.Fatalf("only %d operations seen", ops)
	}
	for _, id := range GoSampleIDs() {
		if !used[id] {
			t.Errorf("Go sample %s belongs to no operation", id)
		}
	}
}
