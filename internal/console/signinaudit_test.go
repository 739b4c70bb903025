package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// TestSignInsAreAudited: a sign-in and a failed one are in the audit trail
// (issue 22 item 6). The success names the operator as actor and resource;
// the failure names the email that was tried and the address, with 401 —
// and neither record holds the password or the code.
func TestSignInsAreAudited(t *testing.T) {
	e := newEnv(t, withAudit(t))
	op := e.addOperator("audited@novamed.test", "viewer")

	const wrong = "not the password at all"
	w := do(t, e.c, "POST", "/console/login", url.Values{"email": {"Audited@NovaMed.test"}, "password": {wrong}}, nil, nil)
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong password: %d", w.Code)
	}
	w = do(t, e.c, "POST", "/console/login", url.Values{"email": {"nobody@novamed.test"}, "password": {wrong}}, nil, nil)
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("an unknown email: %d", w.Code)
	}
	// An empty form is refused before any account is tried: nothing to audit.
	do(t, e.c, "POST", "/console/login", url.Values{"email": {""}, "password": {""}}, nil, nil)
	e.signIn(e.c, "audited@novamed.test") // resets the account's delay

	var got []string
	err := e.store.ScanAudit(context.Background(), time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if r.Action != "operator.sign_in" {
			return nil
		}
		raw := strings.Join(append([]string{r.Actor, r.ClientAddr, r.UserAgent}, r.ResourceIDs...), " ")
		if strings.Contains(raw, wrong) || strings.Contains(raw, testPassword) {
			t.Errorf("a sign-in record holds a password: %+v", r)
		}
		got = append(got, r.Actor+"|"+strings.Join(r.ResourceIDs, ",")+"|"+http.StatusText(r.Status))
		if r.ClientAddr == "" {
			t.Errorf("a sign-in record without the address: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"|audited@novamed.test|Unauthorized",
		"|nobody@novamed.test|Unauthorized",
		"operator:" + op.ID + "|" + op.ID + "|OK",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sign-in records:\n got %q\nwant %q", got, want)
	}
}
