package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/operator"
)

// checkPage runs axe-core on the tab's page at 1280 px and at 390 px (a
// phone), and checks the narrow page does not scroll sideways (wide tables
// scroll inside their own box).
func checkPage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.CheckAxe(t, ctx, name+" at 1280 px")
	do(t, ctx, "narrow "+name, chromedp.EmulateViewport(390, 844))
	browsertest.CheckAxe(t, ctx, name+" at 390 px")
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > 391 && !e.closest(".table-wrap, nav.sections")).slice(0, 8).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right))`))
		t.Errorf("%s at 390 px is %d px wide (%v): %v", name, w, err, wide)
	}
	do(t, ctx, "wide "+name, chromedp.EmulateViewport(browsertest.Width, browsertest.Height))
}

// consoleAdmin creates an admin on the database host, sets the account up
// from the one-time link in the tab (password and TOTP), signs out and
// signs in again with password and TOTP; it returns the admin.
func consoleAdmin(t *testing.T, ts *testServer, ctx context.Context, email string) createdOperator {
	t.Helper()
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", email, "--role", "admin")
	const password = "a long admin passphrase"
	ts.addSecret(password)
	do(t, ctx, "setup page", chromedp.Navigate(ts.URL+admin.SetupLink), chromedp.WaitVisible(chromedp.ID("totp-key")))
	secret := text(t, ctx, "#totp-key")
	ts.addSecret(secret)
	code, _ := operator.TOTPCode(secret, time.Now())
	do(t, ctx, "setup", chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("password2"), password),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.ID("email")))
	next, _ := operator.TOTPCode(secret, time.Now().Add(30*time.Second))
	do(t, ctx, "sign in", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("code"), next), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))
	return admin
}

// TestConsoleOrdersInTheBrowser drives the console's order, formulary,
// carrier and operator pages of a development server in Chromium: orders
// placed through the partner API with a development key are found in the
// console, one is advanced through its lifecycle to shipped (a missing
// tracking number is refused beside its field) and its shipment cancelled,
// the other cancelled, and the partner API sees each new status; an
// operator is invited (the setup link copied) and the last admin's
// self-demotion refused. Every page passes axe-core at 1280 and 390 px,
// and every action is audited as operator:<id>.
func TestConsoleOrdersInTheBrowser(t *testing.T) {
	b := browsertest.Start(t)
	p := newPharmacy(t)
	_, first := p.order(t, nil, nil)
	_, second := p.order(t, nil, nil)
	if first.OrderID == "" || second.OrderID == "" {
		t.Fatal("the partner API did not create the orders")
	}
	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	acceptDialogs(ctx)
	if err := browsertest.GrantClipboard(ctx, p.URL); err != nil {
		t.Fatal(err)
	}
	admin := consoleAdmin(t, p.testServer, ctx, "orders-admin@novamed.test")
	partnerStatus := func(id string) shippedOrder { return p.getOrder(t, id, p.key) }

	// The orders list, filtered by clinic, shows both orders.
	do(t, ctx, "orders", chromedp.Click(chromedp.CSS(`nav a[href="/console/orders"]`)), chromedp.WaitVisible(chromedp.ID("oclinic")))
	do(t, ctx, "filter by clinic", chromedp.SetValue(chromedp.ID("oclinic"), demoClinic), chromedp.Submit(chromedp.ID("oclinic")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/orders/`+second.OrderID+`"]`)))
	checkPage(t, ctx, "orders")
	screenshot(t, ctx, "console-orders.png")

	// Search by id opens the order; advance it step by step.
	do(t, ctx, "search by id", chromedp.SendKeys(chromedp.ID("q"), first.OrderID), chromedp.Submit(chromedp.ID("q")), chromedp.WaitVisible(chromedp.ID("advance")))
	for _, to := range []string{"verified", "submitted", "acknowledged", "filled"} {
		do(t, ctx, "advance to "+to, chromedp.Click(chromedp.ID("advance")), notice("Order moved to "+to))
		if got := partnerStatus(first.OrderID).Status; got != to {
			t.Fatalf("after the console's advance to %s the partner API says %s", to, got)
		}
	}
	// Shipping without a tracking number is refused beside the field.
	do(t, ctx, "ship without tracking", chromedp.WaitVisible(chromedp.ID("tracking_number")), chromedp.Click(chromedp.ID("advance")),
		chromedp.WaitVisible(chromedp.ID("tracking_number-error")))
	checkPage(t, ctx, "order with a form error")
	if got := partnerStatus(first.OrderID).Status; got != "filled" {
		t.Fatalf("a refused shipment moved the order to %s", got)
	}
	do(t, ctx, "ship", chromedp.SendKeys(chromedp.ID("tracking_number"), "1Z999AA10123456784"),
		chromedp.SendKeys(chromedp.ID("label_url"), "https://labels.example.test/1Z999.pdf"),
		chromedp.Click(chromedp.ID("advance")), notice("Order moved to shipped"))
	shipped := partnerStatus(first.OrderID)
	if shipped.Status != "shipped" || shipped.Shipment == nil || shipped.Shipment.Tracking != "1Z999AA10123456784" {
		t.Fatalf("the partner API after shipping: %+v", shipped)
	}
	checkPage(t, ctx, "order")
	screenshot(t, ctx, "console-order.png")

	// Cancel the shipment (confirmed, with a reason).
	do(t, ctx, "cancel shipment", chromedp.SendKeys(chromedp.ID("reason"), "Returned to sender"), chromedp.Click(chromedp.ID("cancel-shipment")),
		notice("Shipment cancelled"))
	back := partnerStatus(first.OrderID)
	if back.Status != "filled" || len(back.Shipments) != 1 || back.Shipments[0].Status != "cancelled" || back.Shipments[0].CancelReason != "Returned to sender" {
		t.Fatalf("the partner API after the shipment's cancellation: %+v", back)
	}

	// Cancel the other order.
	do(t, ctx, "second order", chromedp.Navigate(p.URL+"/console/orders/"+second.OrderID), chromedp.WaitVisible(chromedp.ID("cancel-order")))
	do(t, ctx, "cancel order", chromedp.Click(chromedp.ID("cancel-order")), notice("Order cancelled"))
	if got := partnerStatus(second.OrderID).Status; got != "cancelled" {
		t.Fatalf("the partner API after the console's cancellation: %s", got)
	}

	// Formulary and carrier catalogue.
	do(t, ctx, "formulary", chromedp.Click(chromedp.CSS(`nav a[href="/console/formulary"]`)), chromedp.WaitVisible(chromedp.ID("fclinic")),
		chromedp.SetValue(chromedp.ID("fclinic"), demoClinic), chromedp.Submit(chromedp.ID("fclinic")), chromedp.WaitVisible(chromedp.ID("medication")))
	checkPage(t, ctx, "formulary")
	do(t, ctx, "carriers", chromedp.Click(chromedp.CSS(`nav a[href="/console/carriers"]`)), chromedp.WaitVisible(chromedp.CSS("main table")))
	checkPage(t, ctx, "carriers")

	// Operators: invite, copy the link shown once; the last admin cannot
	// demote themselves.
	do(t, ctx, "operators", chromedp.Click(chromedp.CSS(`nav a[href="/console/operators"]`)), chromedp.WaitVisible(chromedp.ID("email")))
	do(t, ctx, "invite", chromedp.SendKeys(chromedp.ID("email"), "new.pharmacist@novamed.test"), chromedp.SetValue(chromedp.ID("role"), "pharmacy"),
		chromedp.Submit(chromedp.ID("email")), chromedp.WaitVisible(chromedp.ID("setup-link")))
	link := text(t, ctx, "#setup-link")
	p.addSecret(link)
	if !strings.HasPrefix(link, p.URL+"/console/setup/setup_") {
		t.Fatalf("setup link %.40s…", link)
	}
	do(t, ctx, "copy link", chromedp.Click(chromedp.CSS(`button[data-copy="setup-link"]`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("setup-link-status").textContent.startsWith("Copied")`)); err != nil {
		t.Fatalf("copy status: %v", err)
	}
	if clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil || clip != link {
		t.Fatalf("clipboard holds %.40s… (%v), want the link", clip, err)
	}
	checkPage(t, ctx, "operators with a new link")
	screenshot(t, ctx, "console-operators.png")
	do(t, ctx, "demote yourself", chromedp.SetValue(chromedp.ID("role-"+admin.ID), "viewer"), chromedp.Submit(chromedp.ID("role-"+admin.ID)),
		chromedp.WaitVisible(chromedp.ID("row-error")))
	if msg := text(t, ctx, "#row-error"); !strings.Contains(msg, "last active admin") {
		t.Errorf("self-demotion refused with %q", msg)
	}
	checkPage(t, ctx, "operators with a refusal")
	var ops struct {
		Operators []createdOperator `json:"operators"`
	}
	p.mustCLI(&ops, "operators", "list")
	for _, o := range ops.Operators {
		if o.ID == admin.ID && o.Role != "admin" {
			t.Fatalf("the last admin was demoted to %s", o.Role)
		}
	}

	b.CheckNoProblems(t)

	var actions []string
	for _, r := range exportActor(t, p.testServer, "operator:") {
		if r.Actor != "operator:"+admin.ID {
			t.Errorf("actor %q, want operator:%s", r.Actor, admin.ID)
		}
		actions = append(actions, r.Action)
	}
	for _, want := range []string{"medication_order.list", "medication_order.read", "medication_order.advance", "medication_order.cancel_shipment",
		"medication_order.cancel", "operator.create", "operator.role"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit trail lacks %s: %v", want, actions)
		}
	}
}
