package main

import (
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

const msgUnauthorized = "Unauthorized. This can happen if the access token is invalid, expired or has been revoked"

func TestEveryUnauthorizedCase(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	expired := ts.newKey("--clinic", demoClinic, "--expires-in", "500ms")
	revoked := ts.newKey("--clinic", demoClinic)
	ts.mustCLI(nil, "keys", "revoke", revoked.ID)
	// A deployment issues keys of its own environment only: the other
	// environment's key is forged.
	prodKey := issuedKey{Key: forgeKey(t, "production")}
	ts.addSecret(prodKey.Key)
	// A well-formed key with a valid checksum that was never issued.
	unknown := forgeKey(t, "development")
	// One character changed: the checksum refuses it without a lookup.
	flipped := []byte(ts.Key)
	flipped[10] ^= 1
	// The short key has expired by its own record (no request used it).
	expiresAt, err := time.Parse(time.RFC3339Nano, *expired.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, func() bool { return time.Now().After(expiresAt) }, "the key's expiry %v has not passed", expiresAt)

	cases := map[string][]string{
		"missing":           {"x-api-key", ""},
		"empty":             {"x-api-key", " "},
		"malformed":         {"x-api-key", "not-a-key"},
		"bad checksum":      {"x-api-key", string(flipped)},
		"unknown":           {"x-api-key", unknown},
		"expired":           {"x-api-key", expired.Key},
		"revoked":           {"x-api-key", revoked.Key},
		"other environment": {"x-api-key", prodKey.Key},
		"bearer instead":    {"x-api-key", "", "Authorization", "Bearer " + ts.Key},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			r := ts.req("GET", "/api/external/practitioner", "", nil, hdr...)
			expectError(t, r, 401, "UNAUTHORIZED", msgUnauthorized)
		})
	}
	// Header names are case-insensitive.
	expectOK(t, ts.req("GET", "/api/external/practitioner", "", nil, "X-API-Key", ts.Key))
}

func TestRevokeReachesRunningServerWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	k := ts.newKey("--clinic", demoClinic)
	expectOK(t, ts.req("GET", "/api/external/me", k.Key, nil)) // now cached
	ts.mustCLI(nil, "keys", "revoke", k.ID)
	wait.Until(t, 2*time.Second, func() bool { return ts.req("GET", "/api/external/me", k.Key, nil).Status == 401 },
		"revoked key still accepted")
	// Other keys are unaffected.
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
}

func TestRollKeepsOldKeyDuringGrace(t *testing.T) {
	t.Parallel()
	// A short key cache: the old key is refused as soon as its grace ends.
	ts := startServer(t, "development", "--key-cache-ttl", "50ms")
	old := ts.newKey("--clinic", demoClinic, "--name", "rolling", "--rate-limit", "100000") // polled below
	var rolled struct {
		ID, Key, Replaces string
		OldExpires        *time.Time `json:"old_key_expires_at"`
	}
	// 10 s of grace: under a loaded -race run the roll command itself has
	// taken 2 s, leaving no grace to test (it runs in parallel, so the wait
	// below costs little wall time).
	ts.mustCLI(&rolled, "keys", "roll", old.ID, "--grace", "10s")
	ts.addSecret(rolled.Key)
	if rolled.Key == "" || rolled.Key == old.Key || rolled.Replaces != old.ID || rolled.OldExpires == nil {
		t.Fatalf("roll answer = %+v", rolled)
	}
	expectOK(t, ts.req("GET", "/api/external/me", rolled.Key, nil))
	expectOK(t, ts.req("GET", "/api/external/me", old.Key, nil))
	// A rolled key cannot be rolled again.
	if err := ts.cli(nil, "keys", "roll", old.ID); err == nil {
		t.Errorf("rolling an already rolled key succeeded")
	}
	wait.Until(t, time.Until(*rolled.OldExpires)+5*time.Second, func() bool {
		r := ts.req("GET", "/api/external/me", old.Key, nil)
		if r.Status != 200 {
			expectError(t, r, 401, "UNAUTHORIZED", msgUnauthorized)
		}
		return r.Status == 401
	}, "the old key is accepted after its grace")
	if time.Now().Before(*rolled.OldExpires) {
		t.Errorf("the old key was refused before its grace ended (%v)", *rolled.OldExpires)
	}
	expectOK(t, ts.req("GET", "/api/external/me", rolled.Key, nil))
}

func TestCLIContract(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	// Flags after positional arguments, one JSON object, non-zero exit with a reason.
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "7", "--name", "cli")
	if k.ID == "" || k.Environment != "development" || len(k.Clinics) != 1 || k.Clinics[0] != demoClinic {
		t.Fatalf("keys create = %+v", k)
	}
	var list struct {
		Keys []struct {
			ID        string
			Key       string
			RateLimit int `json:"rate_limit"`
		}
	}
	ts.mustCLI(&list, "keys", "list", "--clinic", demoClinic)
	found := false
	for _, lk := range list.Keys {
		if lk.Key != "" {
			t.Errorf("keys list shows a key")
		}
		if lk.ID == k.ID && lk.RateLimit == 7 {
			found = true
		}
	}
	if !found {
		t.Errorf("keys list lacks %s with rate limit 7: %+v", k.ID, list)
	}
	var upd struct {
		RateLimit int `json:"rate_limit"`
	}
	ts.mustCLI(&upd, "keys", "update", k.ID, "--rate-limit", "9")
	if upd.RateLimit != 9 {
		t.Errorf("keys update rate_limit = %d, want 9", upd.RateLimit)
	}
	for _, bad := range [][]string{
		{"keys", "revoke", "no-such-key"},
		{"keys", "create"},
		{"keys", "create", "--clinic", "not-a-uuid"},
		{"keys", "create", "--clinic", "650e8400-e29b-41d4-a716-446655440000"},
		{"clinics", "create"},
		{"keys", "roll"},
		{"nonsense"},
	} {
		err := ts.cli(nil, bad...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want a one-line failure", bad, err)
		}
	}
	var clinics struct{ Clinics []struct{ ID, Name string } }
	ts.mustCLI(&clinics, "clinics", "list")
	if len(clinics.Clinics) != 1 || clinics.Clinics[0].ID != demoClinic {
		t.Errorf("clinics list = %+v", clinics)
	}
}

func TestMeDescribesTheKey(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	k := ts.newKey("--clinic", demoClinic, "--name", "Telehealth Co", "--rate-limit", "42", "--expires-in", "30d")
	expectOK(t, ts.req("GET", "/api/external/practitioner", k.Key, nil))
	r := ts.req("GET", "/api/external/me", k.Key, nil)
	expectOK(t, r)
	var me struct {
		ID, Name, Environment string
		Clinics               []string
		ExpiresAt             *time.Time `json:"expires_at"`
		RateLimit             struct {
			Limit, Remaining int
			Reset            int64
		} `json:"rate_limit"`
	}
	r.data(t, &me)
	if me.ID != k.ID || me.Name != "Telehealth Co" || me.Environment != "development" || len(me.Clinics) != 1 || me.Clinics[0] != demoClinic {
		t.Errorf("me = %+v", me)
	}
	if me.ExpiresAt == nil || time.Until(*me.ExpiresAt) < 29*24*time.Hour {
		t.Errorf("expires_at = %v, want about 30 days ahead", me.ExpiresAt)
	}
	// Two requests consumed (the list and this one); Peek does not consume.
	if me.RateLimit.Limit != 42 || me.RateLimit.Remaining != 40 || me.RateLimit.Reset < time.Now().Unix() {
		t.Errorf("rate_limit = %+v, want limit 42, remaining 40", me.RateLimit)
	}
	if strings.Contains(string(r.Body), k.Key) || strings.Contains(string(r.Body), k.Key[12:]) {
		t.Errorf("/me reveals the key: %s", r.Body)
	}
}
