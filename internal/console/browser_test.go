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
)

// TestBrowserSignInAndIdleLogOff signs in through real Chromium, checks the
// pages with axe-core and for CSP violations, and waits for the idle
// log-off (a short limit, the real clock): the page itself goes to the
// sign-in page and the server has ended the session.
func TestBrowserSignInAndIdleLogOff(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, func(c *Config) { c.Now = time.Now; c.IdleTimeout = 3 * time.Second })
	e.addOperator("admin@novamed.test", "admin")
	srv := httptest.NewServer(e.c)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}
	ctx := b.Tab()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
		t.Fatal(err)
	}
	browsertest.CheckAxe(t, ctx, "sign-in")
	// A wrong password is shown beside the field.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("email"), "admin@novamed.test"),
		chromedp.SendKeys(chromedp.ID("password"), "wrong password!"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("password-error")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.CheckAxe(t, ctx, "sign-in with an error")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1")))
	if err != nil || title != "Overview" {
		t.Fatalf("after sign-in the page says %q (%v), want Overview", title, err)
	}
	browsertest.CheckAxe(t, ctx, "overview")
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
