package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// TestPortalInTheBrowser drives the developer portal of a real development
// server in Chromium: a staff admin invites a partner admin from the
// console's partner page (the link shown once), the invitee sets up the
// account with TOTP, creates a development key (shown once), calls the
// partner API with it, finds the call in the request log and in the usage
// chart, rolls the key with a 2 s grace and sees the old key refused after
// it and the new one accepted, and signs out. Every portal page passes
// axe-core and breaks no CSP rule; the portal actions are in the audit
// trail as partner_user:<id>.
func TestPortalInTheBrowser(t *testing.T) {
	b := browsertest.Start(t)
	ts := startServer(t, "development", "--sandbox", "off", "--webhook-retry-schedule", "0s,100ms", "--webhook-poll", "20ms")
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", "admin@novamed.test", "--role", "admin")
	partner := ts.newPartner("Portal Test Partner", true)
	var clinic struct{ ID string }
	ts.mustCLI(&clinic, "clinics", "create", "--name", "Portal Clinic", "--partner", partner)
	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	acceptDialogs(ctx)
	const staffPassword, partnerPassword = "a long admin passphrase", "a long partner passphrase"
	ts.addSecret(staffPassword)
	ts.addSecret(partnerPassword)

	// Staff: account setup, then the partner page's invitation.
	do(t, ctx, "staff setup page", chromedp.Navigate(ts.URL+admin.SetupLink), chromedp.WaitVisible(chromedp.ID("totp-key")))
	staffSecret := text(t, ctx, "#totp-key")
	ts.addSecret(staffSecret)
	code, _ := operator.TOTPCode(staffSecret, time.Now())
	do(t, ctx, "staff setup", chromedp.SendKeys(chromedp.ID("password"), staffPassword), chromedp.SendKeys(chromedp.ID("password2"), staffPassword),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	do(t, ctx, "partner page", chromedp.Navigate(ts.URL+"/console/partners/"+partner), chromedp.WaitVisible(chromedp.ID("portal-h")))
	do(t, ctx, "invite", chromedp.SendKeys(chromedp.ID("pu_email"), "dana@partner.test"), chromedp.SendKeys(chromedp.ID("pu_name"), "Dana Dev"),
		chromedp.Submit(chromedp.ID("pu_email")), chromedp.WaitVisible(chromedp.ID("invite-link")))
	browsertest.CheckAxe(t, ctx, "console: portal invitation")
	screenshot(t, ctx, "portal-invite-console.png")
	link := text(t, ctx, "#invite-link")
	ts.addSecret(link)
	if !strings.HasPrefix(link, "/portal/setup/inv_") {
		t.Fatalf("invitation link %.20s…", link)
	}

	// The invitee: setup with TOTP (required for a partner admin).
	do(t, ctx, "portal setup page", chromedp.Navigate(ts.URL+link), chromedp.WaitVisible(chromedp.ID("totp-key")))
	browsertest.CheckAxe(t, ctx, "portal: setup")
	screenshot(t, ctx, "portal-setup.png")
	secret := text(t, ctx, "#totp-key")
	ts.addSecret(secret)
	code, _ = operator.TOTPCode(secret, time.Now())
	do(t, ctx, "portal setup", chromedp.SendKeys(chromedp.ID("password"), partnerPassword), chromedp.SendKeys(chromedp.ID("password2"), partnerPassword),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	if body := text(t, ctx, "main"); !strings.Contains(body, clinic.ID) || !strings.Contains(body, "Portal Test Partner") {
		t.Fatalf("overview: %q", body)
	}
	browsertest.CheckAxe(t, ctx, "portal: overview")
	screenshot(t, ctx, "portal-overview.png")

	// A development key, shown once, that works on the partner API.
	do(t, ctx, "keys", chromedp.Click(chromedp.CSS(`nav a[href="/portal/keys"]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/portal/keys"]`)))
	browsertest.CheckAxe(t, ctx, "portal: keys (none)")
	do(t, ctx, "create key", chromedp.SendKeys(chromedp.ID("name"), "CI key"), chromedp.Click(chromedp.ID("clinic-"+clinic.ID)),
		chromedp.Submit(chromedp.ID("name")), chromedp.WaitVisible(chromedp.ID("new-key")))
	key := text(t, ctx, "#new-key")
	ts.addSecret(key)
	if r := ts.req("GET", "/api/external/me", key, nil); r.Status != 200 {
		t.Fatalf("the portal's key: %d %s", r.Status, r.Body)
	}
	browsertest.CheckAxe(t, ctx, "portal: key shown once")
	screenshot(t, ctx, "portal-keys.png")

	// The call is in the request log, found by its request id.
	do(t, ctx, "request log", chromedp.Click(chromedp.CSS(`nav a[href="/portal/requests"]`)), chromedp.WaitVisible(chromedp.CSS("table.requests")))
	if body := text(t, ctx, "table.requests"); !strings.Contains(body, "key.read") || !strings.Contains(body, key[:12]) {
		t.Errorf("request log: %q", body)
	}
	reqID := text(t, ctx, "table.requests tbody tr td:nth-child(6) code")
	do(t, ctx, "search", chromedp.SendKeys(chromedp.ID("q"), reqID), chromedp.Submit(chromedp.ID("q")), chromedp.WaitVisible(chromedp.CSS("table.requests caption")))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.requests tbody tr").length`)); n != 1 {
		t.Errorf("search by request id: %d rows", n)
	}
	browsertest.CheckAxe(t, ctx, "portal: request log")
	screenshot(t, ctx, "portal-requests.png")
	// The call is in the usage chart once its counter batch is written:
	// the chart's text alternative and the per-route table behind it count
	// it (reloaded until then).
	var chartDesc, routes string
	var loaded time.Time
	wait.Until(t, 60*time.Second, func() bool {
		if time.Since(loaded) < 500*time.Millisecond {
			return false
		}
		loaded = time.Now()
		do(t, ctx, "usage", chromedp.Navigate(ts.URL+"/portal/usage"), chromedp.WaitVisible(chromedp.CSS(`a[href="/portal/usage.csv"]`)))
		chartDesc, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("figure.usage-chart")).filter(f => f.querySelector("figcaption code").textContent === `+strconv.Quote(key[:12])+`).map(f => f.querySelector("svg desc").textContent).join("")`))
		routes, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("usage-routes")||{innerText:""}).innerText`))
		return chartDesc != ""
	}, "the key's chart on the usage page")
	if m := regexp.MustCompile(`(\d+) requests? in all`).FindStringSubmatch(chartDesc); m == nil || m[1] == "0" {
		t.Errorf("usage chart of %s: %q, want a non-zero count", key[:12], chartDesc)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(key[:12]) + `\s+GET /api/external/me\s+[1-9]`).MatchString(routes) {
		t.Errorf("per-route usage table: %q", routes)
	}
	browsertest.CheckAxe(t, ctx, "portal: usage")
	screenshot(t, ctx, "portal-usage.png")
	do(t, ctx, "getting started", chromedp.Click(chromedp.CSS(`nav a[href="/portal/start"]`)), chromedp.WaitVisible(chromedp.ID("quickstart")))
	if qs := text(t, ctx, "#quickstart"); !strings.Contains(qs, clinic.ID) || strings.Contains(qs, key) {
		t.Errorf("quickstart: clinic filled in %v, key shown %v", strings.Contains(qs, clinic.ID), strings.Contains(qs, key))
	}
	browsertest.CheckAxe(t, ctx, "portal: getting started")
	screenshot(t, ctx, "portal-start.png")
	do(t, ctx, "keys again", chromedp.Click(chromedp.CSS(`nav a[href="/portal/keys"]`)), chromedp.WaitVisible(chromedp.CSS(`form[action$="/roll"]`)))

	// Roll with a 2 s grace: the old key works until then (checked only
	// while surely inside it), is refused after it, the new one works.
	start := time.Now()
	do(t, ctx, "roll", chromedp.SetValue(chromedp.CSS(`form[action$="/roll"] input[name="grace"]`), "2s"),
		chromedp.Submit(chromedp.CSS(`form[action$="/roll"] input[name="grace"]`)), notice("Key rolled"), chromedp.WaitVisible(chromedp.ID("new-key")))
	rolled := text(t, ctx, "#new-key")
	ts.addSecret(rolled)
	if rolled == key {
		t.Fatal("the roll showed the old key")
	}
	if st := ts.req("GET", "/api/external/me", key, nil).Status; time.Since(start) < 1500*time.Millisecond && st != 200 {
		t.Errorf("the rolled key inside its 2 s grace: %d", st)
	}
	// Asked every 250 ms, not at every poll: the old and the new key share
	// one rate limit.
	var last time.Time
	wait.Until(t, 30*time.Second, func() bool {
		if time.Since(last) < 250*time.Millisecond {
			return false
		}
		last = time.Now()
		return ts.req("GET", "/api/external/me", key, nil).Status == 401
	}, "the rolled key still accepted after its 2 s grace")
	if time.Since(start) < 2*time.Second {
		t.Errorf("the rolled key was refused %s after the roll, before its 2 s grace ended", time.Since(start))
	}
	if r := ts.req("GET", "/api/external/me", rolled, nil); r.Status != 200 {
		t.Errorf("the new key: %d", r.Status)
	}
	browsertest.CheckAxe(t, ctx, "portal: rolled")

	// A webhook to a local receiver: a test event that fails, then a replay.
	var whSecret string
	rcv := newReceiver(t, &whSecret)
	rcv.mu.Lock()
	rcv.alwaysNo = true
	rcv.mu.Unlock()
	do(t, ctx, "webhooks", chromedp.Click(chromedp.CSS(`nav a[href="/portal/webhooks"]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/portal/webhooks"]`)))
	browsertest.CheckAxe(t, ctx, "portal: webhooks (none)")
	do(t, ctx, "add webhook", chromedp.SendKeys(chromedp.ID("url"), rcv.URL+"/novamed"), chromedp.Submit(chromedp.ID("url")), chromedp.WaitVisible(chromedp.ID("wh-secret")))
	secretText := text(t, ctx, "#wh-secret")
	ts.addSecret(secretText)
	ts.addSecret(text(t, ctx, "#wh-token"))
	rcv.mu.Lock()
	whSecret = secretText
	rcv.mu.Unlock()
	do(t, ctx, "test event", chromedp.Click(chromedp.CSS(`form[action$="/test"] button`)), notice("Test event queued"))
	rcv.waitFor(t, "the failing attempts", func(ds []delivered) bool { return len(ds) >= 2 })
	deadline := time.Now().Add(20 * time.Second)
	for {
		do(t, ctx, "delivery log", chromedp.Navigate(ts.URL+"/portal/webhooks"), chromedp.WaitVisible(chromedp.CSS("table.deliveries")))
		if st := text(t, ctx, "table.deliveries td.delivery-status"); st == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery did not fail: %q", text(t, ctx, "table.deliveries"))
		}
	}
	browsertest.CheckAxe(t, ctx, "portal: failed delivery")
	screenshot(t, ctx, "portal-webhooks.png")
	before := len(rcv.snapshot())
	rcv.mu.Lock()
	rcv.alwaysNo = false
	rcv.mu.Unlock()
	do(t, ctx, "replay", chromedp.Click(chromedp.CSS(`form[action$="/replay"] button`)), notice("another attempt"))
	replayed := rcv.waitFor(t, "the replayed delivery", func(ds []delivered) bool { return len(ds) > before })
	if last := replayed[len(replayed)-1]; last.Name != "webhook:test" || last.SigErr != "" {
		t.Errorf("replayed delivery: %+v", last)
	}
	do(t, ctx, "users", chromedp.Click(chromedp.CSS(`nav a[href="/portal/users"]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/portal/users"]`)))
	browsertest.CheckAxe(t, ctx, "portal: users")
	screenshot(t, ctx, "portal-users.png")
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.ID("email")))
	browsertest.CheckAxe(t, ctx, "portal: sign-in")
	screenshot(t, ctx, "portal-sign-in.png")
	b.CheckNoProblems(t)

	var actions []string
	for _, r := range exportActor(t, ts, "partner_user:") {
		actions = append(actions, r.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"partner_user.accept", "api_key.issue", "api_key.roll", "webhook.create", "webhook.test", "webhook.delivery_retry", "portal.sign_out"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit trail lacks %s as partner_user: %s", want, got)
		}
	}
}
