package console

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/novamed/partner-api/internal/browsertest"
	"github.com/novamed/partner-api/internal/operator"
)

// TestKeyboardOnly signs in and moves between pages in real Chromium with
// the keyboard alone (issue 23, "keyboard-only use works"): Tab reaches the
// skip link first and then each sign-in field in order, typing goes where
// the focus is, Enter submits; on the signed-in page the skip link moves
// the focus to the main content, Tab reaches the section links, and Enter
// on one opens it. Each focused control shows a visible focus ring.
func TestKeyboardOnly(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, func(c *Config) { c.Now = time.Now })
	svc := e.acc.(OperatorAccounts).Service
	svc.Now = time.Now
	if _, err := svc.Create(context.Background(), "keys@novamed.test", "Kim Keyboard", operator.Admin, testPassword); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.c)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(b.Tab(), 90*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/console/login"), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
		t.Fatal(err)
	}
	// focused reports the focused element as "tag#id" or "tag.class"
	// with its text, and whether it draws a visible focus indicator.
	focused := func() (desc string, ring bool) {
		t.Helper()
		type state struct {
			Desc string `json:"desc"`
			Ring bool   `json:"ring"`
		}
		js := `(() => { const a = document.activeElement; if (!a || a === document.body) return {desc: "body", ring: false};
			const s = getComputedStyle(a);
			const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
			return {desc: a.tagName.toLowerCase() + (a.id ? "#" + a.id : (a.className ? "." + a.className.split(" ")[0] : "")) + " " + (a.textContent || "").trim().slice(0, 40), ring: ring}; })()`
		out, err := chromedp.Run(ctx, chromedp.Evaluate[state](js))
		if err != nil {
			t.Fatal(err)
		}
		return out.Desc, out.Ring
	}
	// tab presses Tab until the focus reaches want (at most max presses);
	// every control it stops on must show a focus indicator.
	tab := func(want string, max int) {
		t.Helper()
		var seen []string
		for i := 0; i < max; i++ {
			if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
				t.Fatal(err)
			}
			desc, ring := focused()
			if desc == "body" {
				continue
			}
			seen = append(seen, desc)
			if !ring {
				t.Fatalf("%q has the focus but shows no focus indicator", desc)
			}
			if strings.HasPrefix(desc, want) {
				return
			}
		}
		t.Fatalf("%d presses of Tab never reached %q; the focus went through %q", max, want, seen)
	}
	typeText := func(s string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.KeyEvent(s)); err != nil {
			t.Fatal(err)
		}
	}
	tab("a.skip", 1) // the first stop
	tab("input#email", 3)
	typeText("keys@novamed.test")
	tab("input#password", 1) // the fields follow one another
	typeText(testPassword)
	tab("input#code", 1) // development: no second factor enrolled, left empty
	tab("button", 1)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("nav.sections"))); err != nil {
		t.Fatal(err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1"))); h1 != "Overview" {
		t.Fatalf("after a keyboard sign-in the page says %q", h1)
	}

	// The skip link is the first stop and takes the focus past the header.
	tab("a.skip", 1)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	inMain, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.hash === "#main" && document.querySelector("#main") !== null`))
	if err != nil || !inMain {
		t.Fatalf("the skip link did not go to #main (err %v)", err)
	}

	// From the top, Tab walks to the Partners section link; Enter opens it.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS("nav.sections"))); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatal("40 presses of Tab never reached the Partners link")
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		desc, ring := focused()
		if desc != "body" && !ring {
			t.Fatalf("%q has the focus but shows no focus indicator", desc)
		}
		if strings.HasPrefix(desc, "a") && strings.HasSuffix(desc, " Partners") {
			break
		}
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/console/partners") {
		t.Fatalf("Enter on the Partners link went to %s", loc)
	}
	b.CheckNoProblems(t)
}
