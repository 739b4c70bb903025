package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv/fakeclock"
	"github.com/novamed/partner-api/internal/testenv/pgdb"
)

// TestKeyRequestConcurrentDecisions: several operators decide the same
// requests at once through the console (approvals, and approvals racing
// rejections): for each request exactly one decision wins (one key
// issued for an approval, none for a rejection) and every other answer is
// 409 with the reason on the page — never a 500 — on SQLite and
// PostgreSQL.
func TestKeyRequestConcurrentDecisions(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testConcurrentDecisions(t, newEnv(t, func(c *Config) { c.Env = novamed.Production }), "lite")
	})
	t.Run("postgres", func(t *testing.T) {
		ring, err := phi.NewKeyring(map[uint32][]byte{1: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlstore.OpenPostgres(context.Background(), pgdb.Fresh(t), sqlstore.Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		e := &testEnv{t: t, store: s, clock: fakeclock.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))}
		e.acc = newTestAccounts(t, s, novamed.Development, e.clock.Now)
		e.c = e.console(s, func(c *Config) { c.Env = novamed.Production })
		testConcurrentDecisions(t, e, "pg")
	})
}

func testConcurrentDecisions(t *testing.T, e *testEnv, tag string) {
	ctx := context.Background()
	p, clinic := productionPartner(t, e, "Raced Health", true)
	svc := &keyrequest.Service{Store: e.store, Env: novamed.Production, Now: e.clock.Now}

	const operators, requests = 4, 6
	type signedIn struct {
		ck   *http.Cookie
		csrf string
	}
	ops := make([]signedIn, operators)
	for i := range ops {
		email := fmt.Sprintf("race%d-%s@novamed.test", i, tag)
		e.addOperator(email, "support")
		ops[i].ck, ops[i].csrf = e.signIn(e.c, email)
	}

	for n := range requests {
		r, err := svc.Request(ctx, keyrequest.Actor{ID: "partner_user:pu"}, p.ID,
			keyrequest.RequestInput{Kind: keyrequest.Issue, Name: fmt.Sprintf("Raced %d", n), Clinics: []string{clinic.ID}})
		if err != nil {
			t.Fatal(err)
		}
		// Even requests: every operator approves; odd ones: half approve,
		// half reject.
		codes := make([]int, operators)
		bodies := make([]string, operators)
		var wg sync.WaitGroup
		for i := range operators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, form := "/console/key-requests/"+r.ID+"/approve", url.Values{"csrf_token": {ops[i].csrf}}
				if n%2 == 1 && i%2 == 1 {
					path = "/console/key-requests/" + r.ID + "/reject"
					form.Set("reason", "Raced rejection.")
				}
				w := do(t, e.c, "POST", path, form, ops[i].ck, nil)
				codes[i], bodies[i] = w.Code, w.Body.String()
			}()
		}
		wg.Wait()
		won := 0
		for i, code := range codes {
			switch code {
			case http.StatusSeeOther:
				won++
			case http.StatusConflict:
				if !strings.Contains(bodies[i], `id="decision-error"`) || !strings.Contains(bodies[i], "This request was already") {
					t.Errorf("request %d: a losing decision's 409 page does not say why:\n%s", n, bodies[i])
				}
			default:
				t.Errorf("request %d, operator %d: %d, want 303 or 409", n, i, code)
			}
		}
		if won != 1 {
			t.Errorf("request %d: %d decisions won, want exactly 1 (codes %v)", n, won, codes)
		}
		got, err := e.store.GetKeyRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == keyrequest.Pending || (got.Status == keyrequest.Approved) != (got.IssuedKeyID != "") {
			t.Errorf("request %d after the race: %+v", n, got)
		}
	}
	keys, err := e.store.ListAPIKeys(ctx, clinic.ID)
	if err != nil {
		t.Fatal(err)
	}
	approved, err := e.store.ListKeyRequests(ctx, p.ID, keyrequest.Approved)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(approved) || len(approved) < requests/2 {
		t.Errorf("%d keys for %d approved requests (at least %d approved: every operator approved them)", len(keys), len(approved), requests/2)
	}
}

// TestKeyRequestQueuePages: the queue of every partner's pending requests
// is shown a page at a time with a link to the next (each request once),
// the menu and the heading count all of them, and the decided list is on
// the first page only.
func TestKeyRequestQueuePages(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Env = novamed.Production })
	ctx := context.Background()
	d := onboarding.Deps{Env: novamed.Production, Now: e.clock.Now}
	staff := onboarding.Actor{ID: "operator:seed"}
	svc := &keyrequest.Service{Store: e.store, Env: novamed.Production, Now: e.clock.Now}
	total := 0
	for i := range 3 {
		p, err := onboarding.CreatePartner(ctx, e.store, d, staff, onboarding.CreatePartnerInput{Name: fmt.Sprintf("Paged %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := onboarding.CreateClinic(ctx, e.store, d, staff, fmt.Sprintf("Paged Clinic %d", i), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for n := range keyrequest.MaxPending {
			e.clock.Add(time.Second)
			if _, err := svc.Request(ctx, keyrequest.Actor{ID: "partner_user:pu"}, p.ID,
				keyrequest.RequestInput{Kind: keyrequest.Issue, Name: fmt.Sprintf("Paged key %d-%d", i, n), Clinics: []string{c.ID}}); err != nil {
				t.Fatal(err)
			}
			total++
		}
	}
	e.addOperator("pager@novamed.test", "support")
	ck, _ := e.signIn(e.c, "pager@novamed.test")
	rowRE := regexp.MustCompile(`<tr id="kr-([0-9a-f-]{36})">`)
	nextRE := regexp.MustCompile(`href="(/console/key-requests\?cursor=[^"]+)" id="pending-next"`)
	seen := map[string]bool{}
	target := "/console/key-requests"
	for page := 0; target != ""; page++ {
		if page > 3 {
			t.Fatal("the pages do not end")
		}
		w := do(t, e.c, "GET", target, nil, ck, nil)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", target, w.Code)
		}
		if !strings.Contains(body, fmt.Sprintf("Key requests (%d pending)", total)) || !strings.Contains(body, fmt.Sprintf("Waiting for a decision (%d)", total)) {
			t.Errorf("page %d does not count %d pending requests", page, total)
		}
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if len(rows) == 0 || len(rows) > pageSize {
			t.Fatalf("page %d has %d rows", page, len(rows))
		}
		for _, m := range rows {
			if seen[m[1]] {
				t.Errorf("request %s on two pages", m[1])
			}
			seen[m[1]] = true
		}
		if (page == 0) != strings.Contains(body, `id="decided-h"`) {
			t.Errorf("page %d: the decided list shown %v", page, page != 0)
		}
		target = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			target = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != total {
		t.Errorf("the pages showed %d of %d pending requests", len(seen), total)
	}
}
