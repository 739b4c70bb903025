package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/console"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
)

// sweepScreens names the screenshots the sweep takes for docs/img (at
// 1280 px, and at 390 px with a -390 suffix), by route path.
var sweepScreens = map[string]string{
	"/console/security":     "console-security",
	"/console/audit":        "console-audit",
	"/console/crypto":       "console-crypto",
	"/console/key-requests": "console-key-requests",
}

// TestConsoleSweep walks every GET page of the console's route table as an
// admin, with demo data present (a partner with a BAA, a clinic and a key,
// a security event, audit records), at 1280 and at 390 px wide: each page
// answers without an error page, axe-core finds no serious or critical
// violation, nothing overflows sideways at 390 px, and timestamps show
// the browser's time zone with UTC on hover. Pages with a path parameter
// are opened through a link found on the pages already walked, so a page
// added to the table joins the sweep without editing this test.
func TestConsoleSweep(t *testing.T) {
	b := browsertest.Start(t)
	// Demo data: the pharmacy fixture's practitioner, patient and an order.
	p := newPharmacy(t)
	ts := p.testServer
	if _, o := p.order(t, nil, nil); o.OrderID == "" {
		t.Fatal("no order")
	}
	pw := "a long admin passphrase for the sweep"
	ts.addSecret(pw)
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", "sweep@novamed.test", "--role", "admin", "--password-file", passwordFile(t, pw))
	var tok struct{ Token string }
	ts.mustCLI(&tok, "operators", "token", "--email", "sweep@novamed.test")
	ts.addSecret(tok.Token)
	var setup createdOperator
	ts.mustCLI(&setup, "operators", "create", "--email", "new@novamed.test", "--role", "viewer")

	// More: a partner whose BAA expires soon, its clinic and key; a
	// security event.
	r := adminReq(t, ts, "POST", "/api/admin/partners", tok.Token, map[string]any{"name": "Sweep Telehealth", "contacts": []string{"ops@sweep.test"}})
	var partner struct{ ID string }
	r.data(t, &partner)
	now := time.Now().UTC()
	expectAdmin(t, adminReq(t, ts, "POST", "/api/admin/partners/"+partner.ID+"/baas", tok.Token, map[string]any{
		"signed_on": now.AddDate(0, 0, -300).Format(time.DateOnly), "signer": "Dana Ops", "document": "baa.pdf", "expires_on": now.AddDate(0, 0, 20).Format(time.DateOnly)}))
	expectAdmin(t, adminReq(t, ts, "POST", "/api/admin/partners/"+partner.ID+"/approve", tok.Token, nil))
	r = adminReq(t, ts, "POST", "/api/admin/clinics", tok.Token, map[string]any{"name": "Sweep Clinic", "partner_id": partner.ID})
	var clinic struct{ ID string }
	r.data(t, &clinic)
	r = adminReq(t, ts, "POST", "/api/admin/keys", tok.Token, map[string]any{"name": "sweep key", "clinics": []string{clinic.ID}})
	var key struct{ ID, Key string }
	r.data(t, &key)
	ts.addSecret(key.Key)
	// A finished re-encryption (to the version in use: nothing to re-seal).
	expectAdmin(t, adminReq(t, ts, "POST", "/api/admin/crypto/reencryptions", tok.Token, map[string]any{"to_version": 1}))
	c := &common{dataDir: ts.DataDir, env: ts.Env, db: ts.vars["NOVAMED_DB"]}
	store, _, err := c.openStore(context.Background(), ts.getenv)
	if err != nil {
		t.Fatal(err)
	}
	err = store.RecordSecurityEvent(context.Background(), &novamed.SecurityEvent{ID: uuid.NewString(), At: now.Add(-time.Hour), Rule: novamed.RuleNewNetwork,
		KeyID: key.ID, ClientAddr: "192.0.2.44", Detail: map[string]any{"network": "192.0.2.0/24"}}, nil)
	if err == nil {
		// The key-request queue: a new key and a roll waiting, one decided.
		krs := &keyrequest.Service{Store: store, Env: novamed.Development}
		pu := keyrequest.Actor{ID: "partner_user:" + uuid.NewString()}
		_, err = krs.Request(context.Background(), pu, partner.ID, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Sweep production EHR", Clinics: []string{clinic.ID}, RateLimit: 120})
		if err == nil {
			_, err = krs.Request(context.Background(), pu, partner.ID, keyrequest.RequestInput{Kind: keyrequest.Roll, KeyID: key.ID, Name: "sweep key", Grace: 24 * time.Hour})
		}
		var rej *keyrequest.Request
		if err == nil {
			rej, err = krs.Request(context.Background(), pu, partner.ID, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Sweep staging", Clinics: []string{clinic.ID}})
		}
		if err == nil {
			_, err = krs.Reject(context.Background(), keyrequest.Actor{ID: "operator:" + admin.ID}, rej.ID, "Use a development key for staging.")
		}
	}
	store.Close()
	if err != nil {
		t.Fatal(err)
	}

	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 240*time.Second)
	defer cancel()
	// A time zone other than UTC, so that local times are visibly local.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "sign in", chromedp.Navigate(ts.URL+"/console/login"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "sweep@novamed.test"), chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.CSS("nav.sections")))

	var plain, param []console.Route
	for _, rt := range console.RouteTable(novamed.Development) {
		switch {
		case rt.Method != "GET" || strings.Contains(rt.Path, "/assets/") || rt.Path == "/console":
		case rt.Path == "/console/setup/{secret}":
			// Opened last, signed out (below).
		case strings.Contains(rt.Path, "{") && !strings.HasSuffix(rt.Path, "{$}"):
			param = append(param, rt)
		default:
			plain = append(plain, rt)
		}
	}
	links := map[string]bool{}
	visited := 0
	visit := func(path string) {
		t.Helper()
		visited++
		for _, width := range []int64{1280, 390} {
			do(t, ctx, fmt.Sprintf("%s at %d px", path, width), chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(ts.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			where := fmt.Sprintf("%s at %d px", path, width)
			if h1 := text(t, ctx, "main h1"); strings.Contains(h1, "Error") || strings.Contains(h1, "Forbidden") || strings.Contains(h1, "Not Found") {
				t.Errorf("%s: error page %q", where, h1)
			}
			browsertest.CheckAxe(t, ctx, where)
			if width == 390 {
				sw, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
				if err != nil {
					t.Fatal(err)
				}
				if sw > 390 {
					wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("body *")).filter(e => { const pos = getComputedStyle(e).position; if (pos !== "absolute" && pos !== "fixed") for (let p = e.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === "auto" || o === "scroll" || o === "hidden") return false; } return e.getBoundingClientRect().right > 391; }).slice(0, 8).map(e => e.tagName + "." + e.className + "#" + e.id).join(", ")`))
					t.Errorf("%s: the page is %d px wide (overflows sideways): %s", where, sw, wide)
				}
			}
			// Timestamps: local time in the page, UTC on hover.
			bad, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("main time[datetime]")).filter(e => !e.title.endsWith(" UTC") || e.textContent.includes("UTC")).map(e => e.outerHTML).join(" ")`))
			if err != nil || bad != "" {
				t.Errorf("%s: timestamps not in the browser's time zone with UTC on hover: %v %s", where, err, bad)
			}
			if name, ok := sweepScreens[path]; ok {
				suffix := ""
				if width == 390 {
					suffix = "-390"
				}
				sweepShot(t, ctx, name+suffix+".png")
			}
		}
		hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a[href^='/console/']")).map(a => a.getAttribute("href"))`))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hrefs {
			if u, err := url.Parse(h); err == nil {
				links[u.Path] = true
			}
		}
	}
	for _, rt := range plain {
		visit(strings.TrimSuffix(rt.Path, "{$}"))
	}
	for _, rt := range param {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(rt.Path), `[^/]+`) + "$")
		found := ""
		for l := range links {
			if re.MatchString(l) {
				found = l
				break
			}
		}
		if found == "" {
			t.Errorf("%s %s: no page links to it, so the sweep cannot open it (demo data missing?)", rt.Method, rt.Path)
			continue
		}
		visit(found)
	}
	// The one-time setup page, signed out in a fresh browser context.
	sctx := b.NewBrowserContext()
	for _, width := range []int64{1280, 390} {
		do(t, sctx, "setup page", chromedp.EmulateViewport(width, 900), chromedp.Navigate(ts.URL+setup.SetupLink), chromedp.WaitVisible(chromedp.ID("totp-key")))
		browsertest.CheckAxe(t, sctx, fmt.Sprintf("setup at %d px", width))
		if sw, _ := chromedp.Run(sctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); width == 390 && sw > 390 {
			t.Errorf("setup at 390 px is %d px wide", sw)
		}
	}
	visited++
	if visited < 8 {
		t.Fatalf("only %d pages walked", visited)
	}
	t.Logf("walked %d console pages at 1280 and 390 px", visited)
	b.CheckNoProblems(t)
}

// expectAdmin fails unless an admin API call succeeded.
func expectAdmin(t *testing.T, r *response) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("admin API: %d %s", r.Status, r.Body)
	}
}

// sweepShot saves a screenshot of the viewport's page (full height) into
// $NOVAMED_SCREENSHOTS.
func sweepShot(t *testing.T, ctx context.Context, name string) {
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
