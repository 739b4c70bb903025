package webhook

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func signed(t *testing.T, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

// TestStandardWebhooksVector checks Sign against the Standard Webhooks
// specification's published example.
func TestStandardWebhooksVector(t *testing.T) {
	body := []byte(`{"test": 2432232314}`)
	got, err := Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event_name":"medication_order:verified","event_data":{"id":"x"}}`)
	h := signed(t, "d1", now, body)
	if err := verifyAt(secret, h, body, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Fatalf("valid delivery refused: %v", err)
	}
	cases := map[string]struct {
		h    func() http.Header
		body []byte
		now  time.Time
		want error
	}{
		"changed body":  {func() http.Header { return h }, []byte(`{}`), now, ErrBadSignature},
		"old timestamp": {func() http.Header { return h }, body, now.Add(6 * time.Minute), ErrBadTimestamp},
		"future":        {func() http.Header { return h }, body, now.Add(-6 * time.Minute), ErrBadTimestamp},
		"no headers":    {func() http.Header { return http.Header{} }, body, now, ErrMissingHeaders},
		"other id": {func() http.Header {
			c := h.Clone()
			c.Set(HeaderID, "d2")
			return c
		}, body, now, ErrBadSignature},
		"v2 only": {func() http.Header {
			c := h.Clone()
			c.Set(HeaderSignature, "v2,"+c.Get(HeaderSignature)[3:])
			return c
		}, body, now, ErrBadSignature},
	}
	for name, c := range cases {
		if err := verifyAt(secret, c.h(), c.body, 5*time.Minute, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	// Several signatures (during a secret rotation): any valid one passes.
	multi := h.Clone()
	multi.Set(HeaderSignature, "v1,bm9wZQ== "+h.Get(HeaderSignature))
	if err := verifyAt(secret, multi, body, time.Minute, now); err != nil {
		t.Errorf("rotation header refused: %v", err)
	}
	if err := verifyAt("not-a-secret", h, body, time.Minute, now); !errors.Is(err, ErrBadSecret) {
		t.Errorf("bad secret: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("d1", "1800000000", "v1,abc", []byte("{}"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if verifyAt(secret, h, body, time.Hour, time.Unix(1_800_000_000, 0)) == nil {
			want, _ := Sign(secret, id, time.Unix(mustInt(ts), 0), body)
			if sig != want && !containsField(sig, want) {
				t.Fatalf("accepted a signature that was not made with the secret")
			}
		}
	})
}

func mustInt(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func containsField(s, want string) bool { return slices.Contains(strings.Fields(s), want) }

// TestVerifyDuringRotation: a delivery signed with the new and the old
// signing secret (one v1 entry each, as during a rotation's overlap)
// verifies with either secret alone, and not with a third.
func TestVerifyDuringRotation(t *testing.T) {
	const newer = "whsec_c2Vjb25kIHNlY3JldCBmb3IgdGhlIHJvdGF0aW9uIHRlc3Q="
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event_name":"webhook:test","event_data":{}}`)
	h := signed(t, "d1", now, body)
	sig2, err := Sign(newer, "d1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h.Set(HeaderSignature, sig2+" "+h.Get(HeaderSignature))
	for _, s := range []string{secret, newer} {
		if err := verifyAt(s, h, body, time.Minute, now); err != nil {
			t.Errorf("%s…: %v", s[:10], err)
		}
	}
	if err := verifyAt("whsec_dGhpcmQgc2VjcmV0", h, body, time.Minute, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a third secret: %v", err)
	}
}

func TestVerifyToken(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderAPIKey, "whvt_new")
	if !VerifyToken(h, "whvt_old", "whvt_new") || VerifyToken(h, "whvt_old") || VerifyToken(h) || VerifyToken(http.Header{}, "") {
		t.Errorf("VerifyToken answers wrongly")
	}
	h.Add(HeaderAPIKey, "whvt_old")
	if VerifyToken(h, "whvt_old", "whvt_new") {
		t.Errorf("two x-api-key headers accepted")
	}
}
