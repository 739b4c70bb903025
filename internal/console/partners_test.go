package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var newKeyRE = regexp.MustCompile(`id="new-key">([^<]+)<`)

// TestOnboardingFlow runs partner → BAA → approval → clinic → key through
// the console's handlers on a real store, with a validation error shown
// beside its field, and the key page, roll and revoke.
func TestOnboardingFlow(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("support@novamed.test", "support")
	ck, csrf := e.signIn(e.c, "support@novamed.test")
	post := func(path string, form url.Values) *httpResponse {
		form.Set("csrf_token", csrf)
		w := do(t, e.c, "POST", path, form, ck, nil)
		return &httpResponse{w.Code, w.Header().Get("Location"), w.Body.String()}
	}
	get := func(path string) *httpResponse {
		w := do(t, e.c, "GET", path, nil, ck, nil)
		return &httpResponse{w.Code, w.Header().Get("Location"), w.Body.String()}
	}
	if r := post("/console/partners", url.Values{"name": {""}}); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="name-error"`) {
		t.Fatalf("empty name: %d", r.code)
	}
	r := post("/console/partners", url.Values{"name": {"Telehealth Test Co"}, "contacts": {"Dana <ops@partner.test>"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("create partner: %d %s", r.code, r.body)
	}
	partner := strings.TrimSuffix(r.loc, "?done=created")
	if p := get(r.loc); p.code != 200 || !strings.Contains(p.body, "Partner created") || !strings.Contains(p.body, "BAA missing") {
		t.Fatalf("partner page: %d\n%s", p.code, p.body)
	}
	if r := post(partner+"/baa", url.Values{"signed_on": {"2026-01-15"}, "signer": {"Dana"}, "expires_on": {"2025-01-01"}}); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="expires_on-error"`) {
		t.Fatalf("bad expiry: %d", r.code)
	}
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{partner + "/baa", url.Values{"signed_on": {"2026-01-15"}, "signer": {"Dana"}, "expires_on": {"2028-01-15"}}},
		{partner + "/approve", url.Values{}},
		{partner + "/clinics", url.Values{"clinic_name": {"North"}}},
	} {
		if r := post(step.path, step.form); r.code != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.path, r.code, r.body)
		}
	}
	p := get(partner)
	clinic := regexp.MustCompile(`name="clinics" value="([0-9a-f-]+)"`).FindStringSubmatch(p.body)
	if clinic == nil {
		t.Fatalf("no clinic to choose:\n%s", p.body)
	}
	r = post(partner+"/keys", url.Values{"clinics": {clinic[1]}, "key_name": {"Integration"}})
	m := newKeyRE.FindStringSubmatch(r.body)
	if r.code != 200 || m == nil || !strings.HasPrefix(m[1], "dev_") {
		t.Fatalf("issue key: %d\n%s", r.code, r.body)
	}
	keyLink := regexp.MustCompile(`href="(/console/keys/[0-9a-f-]+)"`).FindStringSubmatch(r.body)
	if keyLink == nil {
		t.Fatal("no key link")
	}
	k := get(keyLink[1])
	if k.code != 200 || strings.Contains(k.body, m[1]) || !strings.Contains(k.body, "<svg") {
		t.Fatalf("key page: %d (shows the key again: %v)", k.code, strings.Contains(k.body, m[1]))
	}
	if !strings.Contains(k.body, `id="no-usage"`) {
		t.Error("a key with no counted request: the empty chart does not say so")
	}
	rolled := post(keyLink[1]+"/roll", url.Values{"grace": {"1h"}})
	if rolled.code != 200 || !newKeyRE.MatchString(rolled.body) {
		t.Fatalf("roll: %d %s", rolled.code, rolled.body)
	}
	if r := post(keyLink[1]+"/revoke", url.Values{}); r.code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.code)
	}
	if k := get(keyLink[1]); !strings.Contains(k.body, "revoked") {
		t.Error("the key page does not say revoked")
	}
}

type httpResponse struct {
	code      int
	loc, body string
}
