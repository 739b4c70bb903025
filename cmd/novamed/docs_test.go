package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func servedServers(t *testing.T, base string) []string {
	t.Helper()
	var doc struct{ Servers []struct{ URL string } }
	if err := json.Unmarshal([]byte(getBody(t, base+"/openapi.json")), &doc); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, s := range doc.Servers {
		urls = append(urls, s.URL)
	}
	return urls
}

// TestServedDocumentNamesThisServer: without --public-url the document's
// server is the URL the request used; with it, that URL, whose path prefix
// the /docs page also uses for its document and scripts.
func TestServedDocumentNamesThisServer(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	if got := servedServers(t, ts.URL); len(got) != 1 || got[0] != ts.URL {
		t.Errorf("servers %v, want [%s]", got, ts.URL)
	}
	pub := startServer(t, "development", "--public-url", "https://partner.novamed.test/nm/")
	if got := servedServers(t, pub.URL); len(got) != 1 || got[0] != "https://partner.novamed.test/nm" {
		t.Errorf("servers %v with --public-url", got)
	}
	page := getBody(t, pub.URL+"/docs/")
	if !strings.Contains(page, `data-spec="/nm/openapi.json"`) || !strings.Contains(page, `src="/nm/docs/assets/`) {
		t.Errorf("the page does not use the public prefix:\n%s", page)
	}
	for _, bad := range []string{"ftp://x.test", "https://x.test/?a=1", "https://user@x.test", "partner.novamed.test", `https://x.test/"`} {
		if err := checkPublicURL(bad); err == nil {
			t.Errorf("--public-url %q accepted", bad)
		}
	}
}
