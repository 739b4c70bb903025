package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/operator"
)

// screenshot saves the tab's page at 1280 px into $NOVAMED_SCREENSHOTS
// (docs/img when refreshing the documentation's pictures).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("NOVAMED_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// acceptDialogs accepts every confirm() of the tab, as an operator who
// means it.
func acceptDialogs(ctx context.Context) {
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}) //nolint:errcheck // the test sees the outcome
		}
	}()
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// notice waits until the page's notice says s (the next page has loaded:
// a selector present on both pages could match the old one).
func notice(s string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		// A poll that started on the old page loses its context when the
		// new page arrives; it is started again there.
		for {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector("p.notice")||{textContent:""}).textContent.includes(`+strconv.Quote(s)+`)`))
			if err == nil || ctx.Err() != nil {
				return err
			}
		}
	})
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// TestConsoleOnboardingInTheBrowser drives the staff console of a real
// development server in Chromium: an admin bootstrapped on the database
// host sets up the account from the one-time link (password, TOTP),
// signs in with TOTP, onboards a partner (partner → BAA → approval →
// clinic → key), copies the key shown once and uses it against the
// partner API, revokes it and sees 401 within 2 s, retries a failed
// webhook delivery; every page passes axe-core and breaks no CSP rule, and
// each action is in the audit trail as operator:<id>.
func TestConsoleOnboardingInTheBrowser(t *testing.T) {
	b := browsertest.Start(t)
	ts := startServer(t, "development", "--sandbox", "off", "--webhook-retry-schedule", "0s,100ms", "--webhook-poll", "20ms")
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", "admin@novamed.test", "--role", "admin")
	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	acceptDialogs(ctx)
	if err := browsertest.GrantClipboard(ctx, ts.URL); err != nil {
		t.Fatal(err)
	}
	const password = "a long admin passphrase"
	ts.addSecret(password)

	// Account setup from the one-time link, with TOTP.
	do(t, ctx, "setup page", chromedp.Navigate(ts.URL+admin.SetupLink), chromedp.WaitVisible(chromedp.ID("totp-key")))
	browsertest.CheckAxe(t, ctx, "account setup")
	screenshot(t, ctx, "console-setup.png")
	secret := text(t, ctx, "#totp-key")
	ts.addSecret(secret)
	code, _ := operator.TOTPCode(secret, time.Now())
	do(t, ctx, "setup", chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("password2"), password),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))

	// Sign out, sign in with password and TOTP (the next step's code: the
	// setup spent this one's).
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.ID("email")))
	browsertest.CheckAxe(t, ctx, "sign-in")
	screenshot(t, ctx, "console-sign-in.png")
	next, _ := operator.TOTPCode(secret, time.Now().Add(30*time.Second))
	do(t, ctx, "sign in", chromedp.SendKeys(chromedp.ID("email"), "admin@novamed.test"), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("code"), next), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	if h1 := text(t, ctx, "main h1"); h1 != "Overview" {
		t.Fatalf("after sign-in: %q", h1)
	}
	browsertest.CheckAxe(t, ctx, "overview")
	screenshot(t, ctx, "console-overview.png")

	// Onboarding: partner → BAA → approval → clinic → key.
	do(t, ctx, "partners", chromedp.Click(chromedp.CSS(`nav a[href="/console/partners"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href="/console/partners/new"]`)))
	browsertest.CheckAxe(t, ctx, "partners")
	do(t, ctx, "new partner", chromedp.Click(chromedp.CSS(`a[href="/console/partners/new"]`)), chromedp.WaitVisible(chromedp.ID("name")))
	browsertest.CheckAxe(t, ctx, "new partner")
	do(t, ctx, "create partner", chromedp.SendKeys(chromedp.ID("name"), "Telehealth Test Co"),
		chromedp.SendKeys(chromedp.ID("contacts"), "Dana Ops <ops@partner.test>"),
		chromedp.Submit(chromedp.ID("name")), chromedp.WaitVisible(chromedp.ID("signer")))
	// A BAA whose expiry is before its signing date is refused beside the field.
	do(t, ctx, "BAA with a bad expiry", chromedp.SetValue(chromedp.ID("signed_on"), "2026-01-15"), chromedp.SendKeys(chromedp.ID("signer"), "Dana Ops"),
		chromedp.SendKeys(chromedp.ID("document"), "baa-2026.pdf"), chromedp.SetValue(chromedp.ID("expires_on"), "2025-01-01"),
		chromedp.Submit(chromedp.ID("signer")), chromedp.WaitVisible(chromedp.ID("expires_on-error")))
	browsertest.CheckAxe(t, ctx, "partner with a form error")
	do(t, ctx, "BAA", chromedp.SetValue(chromedp.ID("expires_on"), "2028-01-15"), chromedp.Submit(chromedp.ID("signer")), notice("BAA recorded"))
	do(t, ctx, "approve", chromedp.Click(chromedp.CSS(`form[action$="/approve"] button`)), notice("Partner approved"))
	do(t, ctx, "clinic", chromedp.SendKeys(chromedp.ID("clinic_name"), "Test Clinic North"), chromedp.Submit(chromedp.ID("clinic_name")),
		notice("Clinic added"))
	do(t, ctx, "issue key", chromedp.SendKeys(chromedp.ID("key_name"), "Integration key"), chromedp.Submit(chromedp.ID("key_name")),
		chromedp.WaitVisible(chromedp.ID("new-key")))
	browsertest.CheckAxe(t, ctx, "partner with a new key")
	key := text(t, ctx, "#new-key")
	ts.addSecret(key)
	if !strings.HasPrefix(key, "dev_") {
		t.Fatalf("issued key %.8s…", key)
	}
	// The copy button puts exactly the key on the clipboard.
	do(t, ctx, "copy", chromedp.Click(chromedp.CSS(`button[data-copy="new-key"]`)), chromedp.WaitVisible(chromedp.CSS(`#new-key-status`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("new-key-status").textContent.startsWith("Copied")`)); err != nil {
		t.Fatalf("copy status: %v (%q)", err, text(t, ctx, "#new-key-status"))
	}
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || clip != key {
		t.Fatalf("clipboard holds %.8s… (%v), want the key", clip, err)
	}
	screenshot(t, ctx, "console-partner.png")
	steps := text(t, ctx, "ol.steps")
	if strings.Count(steps, "✓") != 5 {
		t.Errorf("onboarding steps not all done: %q", steps)
	}
	// The key works against the partner API …
	if r := ts.req("GET", "/api/external/me", key, nil); r.Status != 200 {
		t.Fatalf("the console's key: %d %s", r.Status, r.Body)
	}
	// … is shown on its page (never again in full) …
	do(t, ctx, "key page", chromedp.Click(chromedp.CSS(`#new-key-h ~ p a`)), chromedp.WaitVisible(chromedp.ID("revoke")))
	if body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(body, key) {
		t.Fatal("the key page shows the key again")
	}
	browsertest.CheckAxe(t, ctx, "key")
	screenshot(t, ctx, "console-key.png")
	// … and revoked (confirmed) it is refused within 2 s.
	do(t, ctx, "revoke", chromedp.Click(chromedp.ID("revoke")), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	revokedAt := time.Now()
	for {
		r := ts.req("GET", "/api/external/me", key, nil)
		if r.Status == 401 {
			break
		}
		if time.Since(revokedAt) > 2*time.Second {
			t.Fatalf("the revoked key still answers %d after 2 s", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("revoked key refused %v after the console's answer", time.Since(revokedAt).Round(time.Millisecond))

	// A failed webhook delivery, retried from the console.
	var whSecret string
	down := newReceiver(t, &whSecret)
	down.alwaysNo = true
	wh := registerWebhook(t, ts, ts.Key, demoClinic, down.URL)
	whSecret = wh.SigningSecret
	expectOK(t, ts.req("POST", "/api/external/webhook/"+wh.ID+"/test", ts.Key, nil))
	down.waitFor(t, "two attempts", func(ds []delivered) bool { return len(ds) >= 2 })
	deadline := time.Now().Add(20 * time.Second)
	for {
		do(t, ctx, "deliveries", chromedp.Navigate(ts.URL+"/console/deliveries"), chromedp.WaitVisible(chromedp.CSS("table")))
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[action$='/retry']").length`)); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed delivery is not listed")
		}
	}
	browsertest.CheckAxe(t, ctx, "deliveries")
	screenshot(t, ctx, "console-deliveries.png")
	down.mu.Lock()
	down.alwaysNo = false
	down.mu.Unlock()
	do(t, ctx, "retry", chromedp.Click(chromedp.CSS("form[action$='/retry'] button")), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	down.waitFor(t, "the retried attempt", func(ds []delivered) bool { return len(ds) >= 3 })

	b.CheckNoProblems(t)

	// Every console action is in the audit trail as the operator.
	var actions []string
	for _, r := range exportActor(t, ts, "operator:") {
		if r.Actor != "operator:"+admin.ID {
			t.Errorf("actor %q, want operator:%s", r.Actor, admin.ID)
		}
		actions = append(actions, r.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"partner.create", "partner.baa_record", "partner.approve", "clinic.create", "api_key.issue", "api_key.revoke", "webhook.delivery_retry"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit trail lacks %s: %s", want, got)
		}
	}
}
