package websession

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVendoredAssets fails when a committed front-end file is not the one
// its manifest pins (scripts/vendor-assets refreshes them).
func TestVendoredAssets(t *testing.T) {
	for _, manifest := range []string{"static/vendor/vendor.json", "../browsertest/testdata/vendor.json"} {
		b, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		var entries []struct{ Package, Version, File, SHA256 string }
		if err := json.Unmarshal(b, &entries); err != nil {
			t.Fatalf("%s: %v", manifest, err)
		}
		if len(entries) == 0 {
			t.Fatalf("%s lists nothing", manifest)
		}
		for _, e := range entries {
			body, err := os.ReadFile(filepath.Join(filepath.Dir(manifest), e.File))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(body)
			if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
				t.Errorf("%s: %s has sha256 %s, the manifest pins %s (run scripts/vendor-assets)", manifest, e.File, got, e.SHA256)
			}
			if !strings.Contains(string(body[:min(len(body), 4096)]), e.Version) && !strings.Contains(string(body), `version:"`+e.Version+`"`) {
				t.Errorf("%s: %s does not name version %s", manifest, e.File, e.Version)
			}
		}
	}
	if !strings.HasPrefix(mustRead(t, "static/vendor/vendor.json"), "[\n  {\"package\": \"htmx.org\", \"version\": \"2.") {
		t.Error("htmx is pinned to one major version, 2.x")
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
