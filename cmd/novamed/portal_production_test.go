package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// TestPortalProductionKeyInTheBrowser drives the production key flow of a
// real production server in Chromium: a partner admin (invited from the
// console, TOTP enrolled) requests a production key (a missing name is
// shown beside its field), staff see it in the console's queue (counted in
// the menu), approve it after re-authenticating with password and code,
// the partner admin collects the key once (shown with a copy button), the
// key works on the partner API, and a second collect — a stale form sent
// again — is "not found" and never shows the key. Every page passes
// axe-core and breaks no CSP rule; the actions are audited as
// partner_user:<id> and operator:<id>.
func TestPortalProductionKeyInTheBrowser(t *testing.T) {
	b := browsertest.Start(t)
	const reauthWindow = 5 * time.Second
	ts := startServer(t, "production", "--console-reauth-window", reauthWindow.String())
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", "approver@novamed.test", "--role", "admin")
	partner := ts.newPartner("Production Portal Partner", true)
	var clinic struct{ ID string }
	ts.mustCLI(&clinic, "clinics", "create", "--name", "Production Clinic", "--partner", partner)
	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	acceptDialogs(ctx)
	const staffPassword, partnerPassword = "a long approver passphrase", "a long production partner passphrase"
	ts.addSecret(staffPassword)
	ts.addSecret(partnerPassword)

	// Staff set up their account and invite the partner's admin.
	do(t, ctx, "staff setup page", chromedp.Navigate(ts.URL+admin.SetupLink), chromedp.WaitVisible(chromedp.ID("totp-key")))
	staffSecret := text(t, ctx, "#totp-key")
	ts.addSecret(staffSecret)
	setupAt := time.Now()
	code, _ := operator.TOTPCode(staffSecret, setupAt)
	do(t, ctx, "staff setup", chromedp.SendKeys(chromedp.ID("password"), staffPassword), chromedp.SendKeys(chromedp.ID("password2"), staffPassword),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	// The server authenticated the session at some moment before this
	// (typing and hashing took seconds on a slow machine): the window is
	// counted from here, not from setupAt, or the approval below may
	// still be inside it and need no re-authentication.
	authedBy := time.Now()
	do(t, ctx, "partner page", chromedp.Navigate(ts.URL+"/console/partners/"+partner), chromedp.WaitVisible(chromedp.ID("portal-h")))
	do(t, ctx, "invite", chromedp.SendKeys(chromedp.ID("pu_email"), "pat@partner.test"), chromedp.SendKeys(chromedp.ID("pu_name"), "Pat Admin"),
		chromedp.Submit(chromedp.ID("pu_email")), chromedp.WaitVisible(chromedp.ID("invite-link")))
	link := text(t, ctx, "#invite-link")
	ts.addSecret(link)

	// The partner admin: setup with TOTP, then a key request.
	do(t, ctx, "portal setup page", chromedp.Navigate(ts.URL+link), chromedp.WaitVisible(chromedp.ID("totp-key")))
	secret := text(t, ctx, "#totp-key")
	ts.addSecret(secret)
	code, _ = operator.TOTPCode(secret, time.Now())
	do(t, ctx, "portal setup", chromedp.SendKeys(chromedp.ID("password"), partnerPassword), chromedp.SendKeys(chromedp.ID("password2"), partnerPassword),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	do(t, ctx, "keys", chromedp.Click(chromedp.CSS(`nav a[href="/portal/keys"]`)), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if body := text(t, ctx, "main"); !strings.Contains(body, "request a production key") || strings.Contains(body, "Create a development key") {
		t.Errorf("production keys page: %q", body)
	}
	do(t, ctx, "key requests", chromedp.Click(chromedp.CSS(`nav a[href="/portal/key-requests"]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/portal/key-requests"]`)))
	browsertest.CheckAxe(t, ctx, "portal: key requests (none)")
	do(t, ctx, "request without a name", chromedp.Click(chromedp.ID("clinic-"+clinic.ID)), chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("name-error")))
	browsertest.CheckAxe(t, ctx, "portal: key request form error")
	if checked, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("clinic-`+clinic.ID+`").checked`)); !checked {
		t.Error("the refused form lost the clinic chosen")
	}
	do(t, ctx, "request", chromedp.SendKeys(chromedp.ID("name"), "Production EHR"), chromedp.SendKeys(chromedp.ID("rate_limit"), "90"),
		chromedp.Submit(chromedp.ID("name")), notice("Key requested"))
	if body := text(t, ctx, "table.key-requests"); !strings.Contains(body, "Production EHR") || !strings.Contains(body, "pending") {
		t.Fatalf("requests after the request: %q", body)
	}
	browsertest.CheckAxe(t, ctx, "portal: key requested")
	screenshot(t, ctx, "portal-key-requests.png")

	// Staff: the queue, counted in the menu; approval asks for the
	// password and code again (past the window, with a code of a later
	// step than the one the setup used).
	do(t, ctx, "queue", chromedp.Navigate(ts.URL+"/console/key-requests"), chromedp.WaitVisible(chromedp.CSS(`button[id^="approve-"]`)))
	if nav := text(t, ctx, "nav.sections"); !strings.Contains(nav, "Key requests (1 pending)") {
		t.Errorf("console menu: %q", nav)
	}
	if q := text(t, ctx, "main"); !strings.Contains(q, "Production Portal Partner") || !strings.Contains(q, "on record") || !strings.Contains(q, "Production Clinic") {
		t.Errorf("queue: %q", q)
	}
	browsertest.CheckAxe(t, ctx, "console: key requests")
	approve, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('button[id^="approve-"]').id`))
	if err != nil {
		t.Fatal(err)
	}
	reqID := strings.TrimPrefix(approve, "approve-")
	wait.Until(t, 45*time.Second, func() bool {
		return time.Since(authedBy) > reauthWindow+time.Second && time.Now().Unix()/30 != setupAt.Unix()/30
	}, "a new TOTP step past the re-authentication window")
	do(t, ctx, "approve: reauth", chromedp.Click(chromedp.ID(approve)), chromedp.WaitVisible(chromedp.CSS(`form[action="/console/reauth"]`)))
	browsertest.CheckAxe(t, ctx, "console: re-authentication")
	code, _ = operator.TOTPCode(staffSecret, time.Now())
	do(t, ctx, "reauth", chromedp.SendKeys(chromedp.ID("password"), staffPassword), chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.ID(approve)))
	do(t, ctx, "approve", chromedp.Click(chromedp.ID(approve)), notice("Request approved"))
	if q := text(t, ctx, "main"); !strings.Contains(q, "waiting to be collected") || !strings.Contains(q, "No request is waiting") {
		t.Errorf("queue after the approval: %q", q)
	}
	browsertest.CheckAxe(t, ctx, "console: approved")

	// The partner admin collects the key, once.
	do(t, ctx, "approved request", chromedp.Navigate(ts.URL+"/portal/key-requests"), chromedp.WaitVisible(chromedp.CSS(`form[action$="/collect"]`)))
	if body := text(t, ctx, "table.key-requests"); !strings.Contains(body, "approved") {
		t.Errorf("the request's status: %q", body)
	}
	do(t, ctx, "collect", chromedp.Click(chromedp.CSS(`form[action$="/collect"] button`)), notice("Key collected"), chromedp.WaitVisible(chromedp.ID("new-key")),
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="new-key"]`)))
	key := text(t, ctx, "#new-key")
	ts.addSecret(key)
	if !strings.HasPrefix(key, "prod_") {
		t.Fatalf("collected key %.8s…", key)
	}
	browsertest.CheckAxe(t, ctx, "portal: key collected")
	screenshot(t, ctx, "portal-key-collect.png")
	if r := ts.req("GET", "/api/external/me", key, nil); r.Status != 200 {
		t.Fatalf("the collected key on the partner API: %d %s", r.Status, r.Body)
	}

	// Never again: the page offers no collection and does not show it,
	// and the collect form sent again (a stale tab) is not found.
	do(t, ctx, "after collecting", chromedp.Navigate(ts.URL+"/portal/key-requests"), chromedp.WaitVisible(chromedp.CSS("table.key-requests")))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/collect"]').length`)); n != 0 {
		t.Errorf("%d collect forms after the collection", n)
	}
	if body := text(t, ctx, "main"); strings.Contains(body, key) || !strings.Contains(body, "collected") {
		t.Errorf("requests page after the collection shows the key, or not that it was collected")
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.createElement("form"); f.method = "post";
		f.action = "/portal/key-requests/" + `+strconv.Quote(reqID)+` + "/collect";
		const i = document.createElement("input"); i.type = "hidden"; i.name = "csrf_token"; i.value = document.querySelector('input[name="csrf_token"]').value;
		f.appendChild(i); document.body.appendChild(f); f.submit(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, func() bool {
		h1, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("main h1")||{textContent:""}).textContent`))
		return strings.Contains(h1, "Not Found")
	}, "the second collect's answer is not a not-found page")
	if body := text(t, ctx, "main"); strings.Contains(body, key) {
		t.Error("the second collect showed the key")
	}
	b.CheckNoProblems(t)

	actions := map[string]bool{}
	for _, r := range exportActor(t, ts, "partner_user:") {
		actions["partner "+r.Action] = true
	}
	for _, r := range exportActor(t, ts, "operator:"+admin.ID) {
		actions["operator "+r.Action] = true
	}
	for _, want := range []string{"partner key_request.create", "partner key_request.collect", "operator key_request.approve", "operator api_key.issue"} {
		if !actions[want] {
			t.Errorf("audit trail lacks %s (%v)", want, actions)
		}
	}
}
