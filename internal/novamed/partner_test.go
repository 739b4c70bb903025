package novamed

import (
	"testing"
	"time"
)

// TestKeyIssuanceRules: development keys need an approved partner;
// production keys an approved partner with a BAA in effect.
func TestKeyIssuanceRules(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	baa := func(expires string) *BAA { return &BAA{SignedOn: "2025-01-01", Signer: "S", ExpiresOn: expires} }
	cases := []struct {
		name string
		env  Environment
		p    *Partner
		code string
	}{
		{"no partner", Development, nil, CodeInvalid},
		{"dev onboarding", Development, &Partner{Status: PartnerOnboarding}, CodePartnerNotApproved},
		{"dev suspended", Development, &Partner{Status: PartnerSuspended}, CodePartnerNotApproved},
		{"dev approved without BAA", Development, &Partner{Status: PartnerApproved}, ""},
		{"prod approved without BAA", Production, &Partner{Status: PartnerApproved}, CodeBAARequired},
		{"prod approved with BAA", Production, &Partner{Status: PartnerApproved, BAA: baa("")}, ""},
		{"prod BAA expiring tomorrow", Production, &Partner{Status: PartnerApproved, BAA: baa("2026-03-02")}, ""},
		{"prod BAA expired today", Production, &Partner{Status: PartnerApproved, BAA: baa("2026-03-01")}, CodeBAARequired},
		{"prod suspended with BAA", Production, &Partner{Status: PartnerSuspended, BAA: baa("")}, CodePartnerNotApproved},
	}
	for _, c := range cases {
		err := CheckKeyIssuance(c.env, c.p, now)
		if got := ""; err != nil {
			got = ErrorCode(err)
			if got != c.code {
				t.Errorf("%s: code %s (%v), want %q", c.name, got, err, c.code)
			}
		} else if c.code != "" {
			t.Errorf("%s: issued, want %s", c.name, c.code)
		}
	}
}

// TestPartnerKeyRefusal: a suspended partner's keys are refused in both
// environments; a BAA's expiry refuses production keys from 00:00 UTC of
// its expiry date (and never development keys); a missing BAA refuses
// nothing (the key predates partners; listings flag it).
func TestPartnerKeyRefusal(t *testing.T) {
	exp := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	expired := &PartnerKeyState{Status: PartnerApproved, HasBAA: true, BAAExpiresAt: &exp}
	cases := []struct {
		name string
		s    *PartnerKeyState
		env  Environment
		now  time.Time
		want string
	}{
		{"no partner", nil, Production, exp, ""},
		{"approved, no BAA", &PartnerKeyState{Status: PartnerApproved}, Production, exp, ""},
		{"suspended", &PartnerKeyState{Status: PartnerSuspended}, Development, exp, "partner_suspended"},
		{"a microsecond before expiry", expired, Production, exp.Add(-time.Microsecond), ""},
		{"at expiry", expired, Production, exp, "baa_expired"},
		{"expired, development", expired, Development, exp.Add(time.Hour), ""},
	}
	for _, c := range cases {
		if got := c.s.Refused(c.env, c.now); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestPartnerTransitions: approve from onboarding, suspend from approved,
// reinstate from suspended; a repeat holds; anything else is refused.
func TestPartnerTransitions(t *testing.T) {
	ok := map[[2]string]PartnerStatus{
		{"onboarding", "approve"}: PartnerApproved, {"approved", "approve"}: PartnerApproved,
		{"approved", "suspend"}: PartnerSuspended, {"suspended", "suspend"}: PartnerSuspended,
		{"suspended", "reinstate"}: PartnerApproved, {"approved", "reinstate"}: PartnerApproved,
	}
	for _, from := range []PartnerStatus{PartnerOnboarding, PartnerApproved, PartnerSuspended} {
		for _, action := range []string{"approve", "suspend", "reinstate"} {
			to, err := from.Transition(action)
			want, allowed := ok[[2]string{string(from), action}]
			switch {
			case allowed && (err != nil || to != want):
				t.Errorf("%s %s: %s %v, want %s", action, from, to, err, want)
			case !allowed && ErrorCode(err) != CodeInvalidTransition:
				t.Errorf("%s %s: %s %v, want INVALID_TRANSITION", action, from, to, err)
			}
		}
	}
}
