package sqlstore_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestOperators runs the operator identity (accounts, tokens, setup links,
// TOTP, sign-in throttle) on SQLite and PostgreSQL.
func TestOperators(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "novamed.db")
		s, err := sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: testKeyring(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		operatorFlows(t, s, raw, "?")
	})
	t.Run("postgres", func(t *testing.T) {
		s, raw := openPostgresAndRaw(t)
		operatorFlows(t, s, raw, "$1")
	})
}

func operatorFlows(t *testing.T, s *sqlstore.Store, raw *sql.DB, param string) {
	ctx := t.Context()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	svc := &operator.Service{Store: s, Env: novamed.Development, Now: func() time.Time { return now },
		Params: operator.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}

	a, err := svc.Create(ctx, " Ada@Example.TEST ", "Ada", operator.Admin, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "ada@example.test" || !a.HasPassword() {
		t.Fatalf("created %+v", a)
	}
	if _, err := svc.Create(ctx, "ada@example.test", "", operator.Viewer, ""); novamed.ErrorCode(err) != novamed.CodeDuplicate {
		t.Fatalf("second operator with one email: %v", err)
	}
	if _, err := svc.Create(ctx, "x@example.test", "", "root", ""); novamed.ErrorCode(err) != novamed.CodeInvalid {
		t.Fatalf("unknown role: %v", err)
	}

	t.Run("tokens", func(t *testing.T) {
		raw, tok, err := svc.IssueToken(ctx, a, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(raw, "op_") || tok.HashHex == raw || tok.Role != operator.Admin {
			t.Fatalf("token %q %+v", raw, tok)
		}
		if o, _, err := svc.Authenticate(ctx, raw); err != nil || o.ID != a.ID {
			t.Fatalf("Authenticate: %v %v", o, err)
		}
		for _, bad := range []string{"", "op_", raw + "x", "dev_" + raw[3:], strings.ToUpper(raw)} {
			if _, _, err := svc.Authenticate(ctx, bad); !errors.Is(err, operator.ErrUnauthenticated) {
				t.Errorf("Authenticate(%q): %v", bad, err)
			}
		}
		later := *svc
		later.Now = func() time.Time { return now.Add(time.Hour) }
		if _, _, err := later.Authenticate(ctx, raw); !errors.Is(err, operator.ErrUnauthenticated) {
			t.Errorf("expired token: %v", err)
		}
		if _, err := s.RevokeOperatorToken(ctx, tok.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, raw); !errors.Is(err, operator.ErrUnauthenticated) {
			t.Errorf("revoked token: %v", err)
		}
		// A role change or disabling revokes the operator's tokens (a
		// second admin first: the store never lets the last one go).
		if _, err := svc.Create(ctx, "zed@example.test", "Zed", operator.Admin, "another long password"); err != nil {
			t.Fatal(err)
		}
		raw2, _, _ := svc.IssueToken(ctx, a, time.Hour)
		if err := svc.Update(ctx, a, operator.Security, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, raw2); !errors.Is(err, operator.ErrUnauthenticated) {
			t.Errorf("token after a role change: %v", err)
		}
		raw3, _, _ := svc.IssueToken(ctx, a, time.Hour)
		if err := svc.Update(ctx, a, "", operator.Disabled); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, raw3); !errors.Is(err, operator.ErrUnauthenticated) {
			t.Errorf("token of a disabled operator: %v", err)
		}
		if _, _, err := svc.IssueToken(ctx, a, time.Hour); err == nil {
			t.Error("a disabled operator got a token")
		}
		if err := svc.Update(ctx, a, operator.Admin, operator.Active); err != nil {
			t.Fatal(err)
		}
		toks, err := s.ListOperatorTokens(ctx, a.ID)
		if err != nil || len(toks) != 3 {
			t.Fatalf("tokens: %d, %v", len(toks), err)
		}
	})

	t.Run("setup link", func(t *testing.T) {
		b, err := svc.Create(ctx, "bo@example.test", "Bo", operator.Pharmacy, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Login(ctx, "bo@example.test", "", "", ""); !errors.Is(err, operator.ErrBadCredentials) {
			t.Fatalf("sign-in without a password: %v", err)
		}
		path, _, err := svc.NewSetupLink(ctx, b)
		if err != nil || !strings.HasPrefix(path, operator.SetupLinkPath) {
			t.Fatalf("setup link %q: %v", path, err)
		}
		raw := strings.TrimPrefix(path, operator.SetupLinkPath)
		if _, err := svc.UseSetupLink(ctx, raw, "short"); novamed.ErrorCode(err) != novamed.CodeInvalid {
			t.Fatalf("weak password: %v", err)
		}
		if _, err := svc.UseSetupLink(ctx, raw, "bo's long password"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UseSetupLink(ctx, raw, "bo's other password"); novamed.ErrorCode(err) != novamed.CodeNotFound {
			t.Fatalf("second use of a setup link: %v", err)
		}
		if o, err := svc.Login(ctx, "BO@example.test", "bo's long password", "", "192.0.2.1"); err != nil || o.ID != b.ID {
			t.Fatalf("sign-in after setup: %v", err)
		}
		path2, _, _ := svc.NewSetupLink(ctx, b)
		late := *svc
		late.Now = func() time.Time { return now.Add(operator.SetupLinkTTL + time.Second) }
		if _, err := late.UseSetupLink(ctx, strings.TrimPrefix(path2, operator.SetupLinkPath), "bo's newer password"); novamed.ErrorCode(err) != novamed.CodeNotFound {
			t.Fatalf("expired setup link: %v", err)
		}
	})

	t.Run("totp sealed and single use", func(t *testing.T) {
		c, err := svc.Create(ctx, "cy@example.test", "Cy", operator.Security, "cy's long password")
		if err != nil {
			t.Fatal(err)
		}
		prod := *svc
		prod.Env = novamed.Production
		if _, err := prod.Login(ctx, "cy@example.test", "cy's long password", "", ""); !errors.Is(err, operator.ErrTOTPRequired) {
			t.Fatalf("production sign-in without TOTP: %v", err)
		}
		url, err := prod.EnrolTOTP(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(url, c.TOTPSecret) {
			t.Fatal("URL without the secret")
		}
		var sealed string
		if err := raw.QueryRowContext(ctx, `SELECT totp_secret FROM operators WHERE id = `+param, c.ID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if sealed == "" || strings.Contains(sealed, c.TOTPSecret) {
			t.Fatalf("TOTP secret stored in clear or not at all: %q", sealed)
		}
		code, _ := operator.TOTPCode(c.TOTPSecret, now)
		if _, err := prod.Login(ctx, "cy@example.test", "cy's long password", code, ""); err != nil {
			t.Fatalf("sign-in with TOTP: %v", err)
		}
		if _, err := prod.Login(ctx, "cy@example.test", "cy's long password", code, ""); !errors.Is(err, operator.ErrBadCredentials) {
			t.Fatalf("a TOTP code used twice: %v", err)
		}
		if err := s.ResetLoginThrottle(ctx, operator.AccountSubject("cy@example.test")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("throttle", func(t *testing.T) {
		clock := now
		th := *svc
		th.Now = func() time.Time { return clock }
		for i := 0; i < operator.FreeFailures; i++ {
			if _, err := th.Login(ctx, "ada@example.test", "wrong password!", "", "198.51.100.7"); !errors.Is(err, operator.ErrBadCredentials) {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		// Now the account waits, even with the right password, and even
		// from another address; nothing is counted while it waits.
		var te *operator.ThrottledError
		if _, err := th.Login(ctx, "ada@example.test", "a long enough password", "", "203.0.113.9"); !errors.As(err, &te) || te.RetryAfter != time.Second {
			t.Fatalf("attempt during the delay: %v", err)
		}
		// Another account from the same address waits too.
		if _, err := th.Login(ctx, "bo@example.test", "bo's long password", "", "198.51.100.7"); !errors.As(err, &te) {
			t.Fatalf("another account from the throttled address: %v", err)
		}
		clock = clock.Add(time.Second)
		if _, err := th.Login(ctx, "ada@example.test", "wrong password!", "", "203.0.113.9"); !errors.Is(err, operator.ErrBadCredentials) {
			t.Fatal(err)
		}
		if _, err := th.Login(ctx, "ada@example.test", "a long enough password", "", "203.0.113.9"); !errors.As(err, &te) || te.RetryAfter != 2*time.Second {
			t.Fatalf("the delay did not grow: %v", err)
		}
		// No lockout: after the delay the right password works.
		clock = clock.Add(2 * time.Second)
		if _, err := th.Login(ctx, "ada@example.test", "a long enough password", "", "203.0.113.9"); err != nil {
			t.Fatalf("after the delay: %v", err)
		}
		// An admin reset clears an address's delay.
		if err := th.ResetThrottle(ctx, "bo@example.test", "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
		if _, err := th.Login(ctx, "bo@example.test", "bo's long password", "", "198.51.100.7"); err != nil {
			t.Fatalf("after reset: %v", err)
		}
	})

	ops, err := s.ListOperators(ctx)
	if err != nil || len(ops) != 4 || ops[0].Email != "ada@example.test" {
		t.Fatalf("ListOperators: %d %v", len(ops), err)
	}
}
