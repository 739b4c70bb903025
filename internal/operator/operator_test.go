package operator

import (
	"strings"
	"testing"
	"time"
)

var cheap = PasswordParams{Memory: 1024, Time: 1, Threads: 1}

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("encoding %q is not PHC argon2id with its parameters", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash holds the password")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, err := VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	h2, _ := HashPassword("correct horse battery", cheap)
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if NeedsRehash(h, cheap) || !NeedsRehash(h, DefaultPasswordParams) {
		t.Error("NeedsRehash does not compare the parameters")
	}
}

func TestVerifyPasswordRefusesBadEncodings(t *testing.T) {
	good, _ := HashPassword("correct horse battery", cheap)
	parts := strings.Split(good, "$")
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=1024,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=1024,t=1,p=1$!!$" + parts[5]} {
		if ok, err := VerifyPassword(bad, "correct horse battery"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
	if ok, _ := VerifyPassword(dummyHash, "anything at all"); ok {
		t.Error("the dummy hash matched")
	}
	if _, _, _, err := decodeHash(dummyHash); err != nil {
		t.Errorf("the dummy hash is not a valid encoding: %v", err)
	}
}

func TestCheckPassword(t *testing.T) {
	if CheckPassword("short") == nil || CheckPassword(strings.Repeat("x", 257)) == nil {
		t.Error("a too short or too long password was accepted")
	}
	if err := CheckPassword("twelve chars"); err != nil {
		t.Error(err)
	}
}

func TestTOTPMatchesWithinOneStep(t *testing.T) {
	secret, url, err := NewTOTP("NovaMed development", "ops@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/") || !strings.Contains(url, "secret="+secret) {
		t.Fatalf("url %q", url)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		code, _ := TOTPCode(secret, now.Add(d))
		step, ok := MatchTOTP(secret, code, now)
		if !ok || step != now.Add(d).Unix()/30 {
			t.Errorf("code of now%+v: step %d, %v", d, step, ok)
		}
	}
	old, _ := TOTPCode(secret, now.Add(-2*time.Minute))
	if _, ok := MatchTOTP(secret, old, now); ok {
		t.Error("a code two minutes old matched")
	}
	if _, ok := MatchTOTP(secret, "12345", now); ok {
		t.Error("a five-digit code matched")
	}
}

func TestDelayGrowsWithoutLockout(t *testing.T) {
	prev := time.Duration(0)
	for n := 0; n < 50; n++ {
		d := Delay(n)
		if d < prev || d > MaxDelay {
			t.Fatalf("Delay(%d) = %s after %s", n, d, prev)
		}
		prev = d
	}
	if Delay(FreeFailures-1) != 0 || Delay(FreeFailures) != time.Second || Delay(50) != MaxDelay {
		t.Errorf("Delay: %s %s %s", Delay(FreeFailures-1), Delay(FreeFailures), Delay(50))
	}
	now := time.Now()
	if Wait(10, now.Add(-ThrottleMemory-time.Second), now) != 0 {
		t.Error("failures older than the memory still delay")
	}
	if w := Wait(FreeFailures+1, now.Add(-time.Second), now); w != time.Second {
		t.Errorf("Wait = %s, want 1s", w)
	}
}

// TestCapabilitiesAreTheIssueTable holds the table to issue 22's, row by
// row, so that a change to it is deliberate.
func TestCapabilitiesAreTheIssueTable(t *testing.T) {
	want := map[Capability]string{ // viewer support pharmacy security admin
		Read: "11111", Change: "01001", Revoke: "01011", ReadPHI: "00111", Orders: "00101", Audit: "00011", Operators: "00001",
	}
	if len(CapabilityOrder) != len(want) || len(Capabilities) != len(want) {
		t.Fatalf("%d capabilities, want %d", len(Capabilities), len(want))
	}
	for c, row := range want {
		for i, r := range Roles {
			if r.Can(c) != (row[i] == '1') {
				t.Errorf("%s can %s: %v", r, c, r.Can(c))
			}
		}
	}
}

func TestSecrets(t *testing.T) {
	raw, err := newSecret(TokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !wellFormed(raw, TokenPrefix) || wellFormed(raw+"x", TokenPrefix) || wellFormed("dev_"+raw[3:], TokenPrefix) {
		t.Errorf("wellFormed is wrong about %q", raw)
	}
	if HashSecret(raw) == HashSecret(raw+"x") || len(HashSecret(raw)) != 64 || DisplayPrefix(raw) != raw[:9] {
		t.Error("HashSecret or DisplayPrefix")
	}
	if err := CheckEmail("ops@example.test"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "ops", "Ops <ops@example.test>", "ops@example.test\n"} {
		if CheckEmail(bad) == nil {
			t.Errorf("CheckEmail(%q) accepted", bad)
		}
	}
}
