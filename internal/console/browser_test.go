package console

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// TestBrowserSetupSignInAndIdleLogOff, in real Chromium on a production
// console: the one-time setup link (password, QR code and typed key, first
// code), sign-out, sign-in with password and TOTP (a wrong password shown
// beside its field), every page checked with axe-core and for CSP
// violations, then the idle log-off (a 3 s limit, the real clock): the page
// itself goes to the sign-in page and the server has ended the session.
func TestBrowserSetupSignInAndIdleLogOff(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, func(c *Config) { c.Env = novamed.Production; c.Now = time.Now; c.IdleTimeout = 3 * time.Second })
	svc := e.acc.(OperatorAccounts).Service
	svc.Env, svc.Now = novamed.Production, time.Now
	e.c.cfg.Enrolment = svc
	o, err := svc.Create(context.Background(), "admin@novamed.test", "Ada Admin", operator.Admin, "")
	if err != nil {
		t.Fatal(err)
	}
	link, _, err := svc.NewSetupLink(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.c)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}
	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// Setup.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+link), chromedp.WaitVisible(chromedp.ID("totp-key"))); err != nil {
		t.Fatal(err)
	}
	browsertest.CheckAxe(t, ctx, "account setup")
	secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("totp-key")))
	if err != nil {
		t.Fatal(err)
	}
	code, err := operator.TOTPCode(strings.TrimSpace(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.SendKeys(chromedp.ID("password2"), testPassword),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")),
	); err != nil {
		t.Fatal(err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1"))); h1 != "Overview" {
		t.Fatalf("after setup the page says %q", h1)
	}
	browsertest.CheckAxe(t, ctx, "overview")

	// Sign out, then sign in with password and code.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
		t.Fatal(err)
	}
	browsertest.CheckAxe(t, ctx, "sign-in")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("email"), "admin@novamed.test"),
		chromedp.SendKeys(chromedp.ID("password"), "wrong password!"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("password-error")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.CheckAxe(t, ctx, "sign-in with an error")
	// The failure slows the account down for a moment (no lockout); the
	// code of the next step is accepted (one step of clock drift), as
	// the setup spent this step's.
	if err := svc.ResetThrottle(context.Background(), "admin@novamed.test", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	next, _ := operator.TOTPCode(strings.TrimSpace(secret), time.Now().Add(30*time.Second))
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.SendKeys(chromedp.ID("code"), next),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("nav.sections")),
	); err != nil {
		t.Fatal(err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1"))); h1 != "Overview" {
		t.Fatalf("after sign-in the page says %q", h1)
	}
	if os.Getenv("NOVAMED_SCREENSHOTS") != "" {
		shot(t, ctx, "console-overview-skeleton.png")
	}
	// Idle: no activity for 3 s; the page goes to the sign-in page by itself.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`p.notice`))); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	notice, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.notice")))
	if !strings.Contains(loc, "/console/login") || !strings.Contains(notice, "without activity") {
		t.Fatalf("after the idle limit: at %s saying %q", loc, notice)
	}
	// And the server agrees: the overview needs a new sign-in.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
		t.Fatal(err)
	}
	b.CheckNoProblems(t)
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
