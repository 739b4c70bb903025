package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestKeyRequestPendingCap: one partner may have at most
// keyrequest.MaxPending requests waiting, also when its admins ask at the
// same moment (the count is taken under the partner's lock); another
// partner is not affected; a decision frees a place. The queue pages
// newest first without gaps or repeats, and the count is the number of
// pending requests. On SQLite and PostgreSQL.
func TestKeyRequestPendingCap(t *testing.T) {
	bothStores(t, testPendingCap)
}

func testPendingCap(t *testing.T, s *sqlstore.Store) {
	ctx := context.Background()
	d := onboarding.Deps{Env: novamed.Production}
	op := onboarding.Actor{ID: "operator:t"}
	partner := func(name string) (*novamed.Partner, *novamed.Clinic) {
		p, err := onboarding.CreatePartner(ctx, s, d, op, onboarding.CreatePartnerInput{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		c, err := onboarding.CreateClinic(ctx, s, d, op, name+" Clinic", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p, c
	}
	p, c := partner("Flooding Partner")
	o, oc := partner("Other Partner")
	// A clock that moves a millisecond per request, so the pages' order
	// is known; two requests share each instant to exercise the cursor's
	// tie on the id.
	var mu sync.Mutex
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	calls := 0
	svc := &keyrequest.Service{Store: s, Env: novamed.Production, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return at.Add(time.Duration(calls/2) * time.Millisecond)
	}}
	ask := func(pid, clinic string, n int) error {
		_, err := svc.Request(ctx, keyrequest.Actor{ID: "partner_user:u1"}, pid,
			keyrequest.RequestInput{Kind: keyrequest.Issue, Name: fmt.Sprintf("Key %d", n), Clinics: []string{clinic}})
		return err
	}

	// Concurrent requests of one partner: exactly MaxPending pass.
	const tries = keyrequest.MaxPending + 6
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ask(p.ID, c.ID, i)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case novamed.ErrorCode(err) != novamed.CodeLimitReached:
			t.Fatalf("a request beyond the cap failed with %v, not %s", err, novamed.CodeLimitReached)
		}
	}
	if ok != keyrequest.MaxPending {
		t.Fatalf("%d of %d concurrent requests were queued, want %d", ok, tries, keyrequest.MaxPending)
	}
	if n, err := s.CountKeyRequests(ctx, p.ID, keyrequest.Pending); err != nil || n != keyrequest.MaxPending {
		t.Fatalf("pending of the flooding partner: %d %v", n, err)
	}
	// Another partner still asks.
	for i := range 3 {
		if err := ask(o.ID, oc.ID, i); err != nil {
			t.Fatalf("another partner's request refused: %v", err)
		}
	}
	// A decision frees one place.
	l, err := s.ListKeyRequests(ctx, p.ID, keyrequest.Pending)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reject(ctx, op, l[0].ID, "Too many."); err != nil {
		t.Fatal(err)
	}
	if err := ask(p.ID, c.ID, 100); err != nil {
		t.Fatalf("a request after a decision freed a place: %v", err)
	}
	if err := ask(p.ID, c.ID, 101); novamed.ErrorCode(err) != novamed.CodeLimitReached {
		t.Fatalf("the request beyond the cap again: %v", err)
	}

	// Counts and pages.
	all, err := s.ListKeyRequests(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountKeyRequests(ctx, "", ""); n != len(all) || n != keyrequest.MaxPending+1+3 {
		t.Fatalf("count of every request: %d, listed %d", n, len(all))
	}
	if n, _ := s.CountKeyRequests(ctx, "", keyrequest.Pending); n != keyrequest.MaxPending+3 {
		t.Fatalf("pending of every partner: %d", n)
	}
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(all) {
			t.Fatal("the pages do not end")
		}
		page, next, err := s.PageKeyRequests(ctx, keyrequest.Filter{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 || (next != "" && len(page) != 3) {
			t.Fatalf("a page of %d with next %q", len(page), next)
		}
		for _, r := range page {
			paged = append(paged, r.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(paged) != len(all) {
		t.Fatalf("pages held %d requests, the list %d", len(paged), len(all))
	}
	for i, r := range all {
		if paged[i] != r.ID {
			t.Fatalf("page order differs from the list at %d", i)
		}
	}
	decided, _, err := s.PageKeyRequests(ctx, keyrequest.Filter{Decided: true, Limit: 10})
	if err != nil || len(decided) != 1 || decided[0].Status != keyrequest.Rejected {
		t.Fatalf("decided requests: %d %v", len(decided), err)
	}
	if _, _, err := s.PageKeyRequests(ctx, keyrequest.Filter{Limit: 3, Cursor: "x_y"}); novamed.ErrorCode(err) != novamed.CodeInvalid {
		t.Fatalf("a bad cursor: %v", err)
	}
}
