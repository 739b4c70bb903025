package sqlstore_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestKeepsAnAdminAndResetSecondFactor: the rules the console's operators
// page (and any other caller) uses to never leave the deployment without
// an active admin, and a second-factor reset that takes effect at once.
func TestKeepsAnAdminAndResetSecondFactor(t *testing.T) {
	ctx := t.Context()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "novamed.db"), sqlstore.Options{Keyring: testKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc := &operator.Service{Store: s, Env: novamed.Production, Params: operator.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	mk := func(email string, role operator.Role) *operator.Operator {
		o, err := svc.Create(ctx, email, "", role, "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	a := mk("a@novamed.test", operator.Admin)
	v := mk("v@novamed.test", operator.Viewer)
	refused := func(by string, o *operator.Operator, role operator.Role, st operator.Status, want string) {
		t.Helper()
		err := svc.CheckKeepsAdmin(ctx, by, o, role, st)
		if novamed.ErrorCode(err) != novamed.CodeInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("change of %s to %q/%q by %s: %v, want a refusal saying %q", o.Email, role, st, by, err, want)
		}
	}
	refused(a.ID, a, operator.Viewer, "", "You are the last active admin")
	refused(v.ID, a, "", operator.Disabled, "a@novamed.test is the last active admin")
	refused(a.ID, a, "", operator.Disabled, "cannot disable your own account")
	for _, ok := range []struct {
		o    *operator.Operator
		role operator.Role
		st   operator.Status
	}{{a, operator.Admin, ""}, {v, operator.Security, operator.Disabled}, {a, "", operator.Active}} {
		if err := svc.CheckKeepsAdmin(ctx, a.ID, ok.o, ok.role, ok.st); err != nil {
			t.Errorf("harmless change of %s: %v", ok.o.Email, err)
		}
	}
	// A disabled admin does not count; an active second one does.
	b := mk("b@novamed.test", operator.Admin)
	if err := svc.Update(ctx, b, "", operator.Disabled); err != nil {
		t.Fatal(err)
	}
	refused(a.ID, a, operator.Support, "", "last active admin")
	if err := svc.Update(ctx, b, "", operator.Active); err != nil {
		t.Fatal(err)
	}
	if err := svc.CheckKeepsAdmin(ctx, a.ID, a, operator.Support, ""); err != nil {
		t.Errorf("with a second admin: %v", err)
	}

	// Reset: the second factor goes, tokens are revoked, a new link works.
	if _, err := svc.EnrolTOTP(ctx, v); err != nil {
		t.Fatal(err)
	}
	raw, _, err := svc.IssueToken(ctx, v, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path, _, err := svc.ResetSecondFactor(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOperator(ctx, v.ID)
	if err != nil || got.HasTOTP() {
		t.Fatalf("after the reset: TOTP %v (%v)", got.HasTOTP(), err)
	}
	if _, _, err := svc.Authenticate(ctx, raw); err == nil {
		t.Error("a token survived the reset")
	}
	if _, err := svc.Login(ctx, "v@novamed.test", "correct horse battery staple", "", "127.0.0.1"); err == nil {
		t.Error("a production sign-in without a second factor worked after the reset")
	}
	if _, err := svc.UseSetupLink(ctx, strings.TrimPrefix(path, operator.SetupLinkPath), "a new long passphrase"); err != nil {
		t.Errorf("the reset's setup link: %v", err)
	}
}
