package sdktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// partnerMain is a partner's program: it imports the SDK and its webhook
// package, and nothing else of NovaMed's.
const partnerMain = `package main

import (
	"fmt"
	"net/http"

	"github.com/novamed/partner-api/client"
	"github.com/novamed/partner-api/client/webhook"
)

func main() {
	c := client.New("dev_key", client.WithBaseURL("http://127.0.0.1:8080"))
	_, err := webhook.Parse([]byte("{}"))
	fmt.Println(c != nil, err, http.MethodPost)
}
`

// TestPartnerModuleGoSum builds a partner module that requires only the SDK
// module (replaced by this tree's client/) and tidies it offline: with
// GOPROXY=off nothing can be downloaded, and the workspace is off, so the
// module graph is exactly what a partner gets. Its go.sum must stay empty —
// the SDK is standard library only — and above all must not name the
// server's dependencies (pgx, go-redis, SQLite, goose, Prometheus).
func TestPartnerModuleGoSum(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to tidy a partner module: %v", err)
	}
	sdk, err := filepath.Abs(filepath.Join("..", "..", "client"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sdk, "go.mod")); err != nil {
		t.Fatalf("the SDK module: %v", err)
	}
	dir := t.TempDir()
	gomod := "module example.test/partner\n\ngo 1.26.0\n\n" +
		"require github.com/novamed/partner-api/client v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/novamed/partner-api/client => " + sdk + "\n"
	for name, text := range map[string]string{"go.mod": gomod, "main.go": partnerMain} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the partner module: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	run("build", "-o", os.DevNull, ".")

	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, server := range []string{"pgx", "go-redis", "modernc", "goose", "prometheus", "uuid", "kin-openapi"} {
		if strings.Contains(string(sum), server) {
			t.Errorf("the partner's go.sum names %s, a server dependency:\n%s", server, sum)
		}
	}
	if len(strings.TrimSpace(string(sum))) != 0 {
		t.Errorf("the partner's go.sum is not empty (the SDK is meant to need only the standard library):\n%s", sum)
	}
	mods := strings.Fields(run("list", "-m", "-f", "{{.Path}}", "all"))
	if len(mods) != 2 || mods[0] != "example.test/partner" || mods[1] != "github.com/novamed/partner-api/client" {
		t.Errorf("the partner's module graph is %q; want itself and the SDK only", mods)
	}
	t.Logf("partner module graph: %s; go.sum: %d bytes", strings.Join(mods, " "), len(sum))
}
