// Package browsertest runs tests in a real headless Chromium (Debian's
// chromium package) through chromedp, and checks pages with axe-core in
// the same browser. Only tests import it.
//
// The browser never reaches past loopback: background networking, component
// updates, sync and QUIC are off, every host name resolves to nothing (tests
// use 127.0.0.1 literals), and each browser gets a fresh profile folder.
package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

//go:embed testdata/axe.min.js
var axeSource string

// Width and Height are the window size pages are tested at (the console's
// desktop width); SetWidth changes a tab's width (390 for a phone).
const (
	Width  = 1280
	Height = 900
)

// chromiumPath finds Debian's chromium.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one headless Chromium for one test.
type Browser struct {
	t        testing.TB
	root     context.Context
	mu       sync.Mutex
	problems []string // CSP violations and uncaught exceptions seen
}

// Start launches Chromium for t and closes it at t's cleanup. Without a
// chromium binary the test is skipped, loudly, or fails when CI=true.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: the browser tests need it in CI (scripts/test installs it: apt-get install -y chromium)")
		}
		t.Skip("SKIPPED — chromium is not installed: browser tests did not run (apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(Width, Height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions"),
		// Every host name resolves to nothing: pages are opened by
		// 127.0.0.1 literal, and nothing else can be reached by name.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("proxy-server", "direct://"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		t.Fatalf("starting chromium (%s): %v", path, err)
	}
	b := &Browser{t: t, root: root}
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	return b
}

// Tab opens a new tab that watches for Content-Security-Policy violations
// and uncaught script errors.
func (b *Browser) Tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root)
	b.t.Cleanup(cancel)
	b.watch(ctx)
	return ctx
}

// NewBrowserContext opens a tab in a fresh browser context: its own
// cookies, as a second person at another computer.
func (b *Browser) NewBrowserContext() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	b.watch(ctx)
	return ctx
}

func (b *Browser) watch(ctx context.Context) {
	b.t.Helper()
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatal(err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *log.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") || strings.Contains(e.Entry.Text, "Content-Security-Policy") {
				b.problem("CSP: " + e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			b.problem("script error: " + e.ExceptionDetails.Text)
		}
	})
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *Browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// Problems returns the CSP violations and script errors seen so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// CheckNoProblems fails t if any page broke its CSP or threw.
func (b *Browser) CheckNoProblems(t testing.TB) {
	t.Helper()
	for _, p := range b.Problems() {
		t.Errorf("browser: %s", p)
	}
}

// GrantClipboard lets pages of origin read and write the clipboard (the
// copy button), as a person would allow.
func GrantClipboard(ctx context.Context, origin string) error {
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted, Origin: origin,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Violation is one axe-core rule a page breaks.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// Axe runs axe-core (the committed testdata/axe.min.js) on the tab's page
// and returns the serious and critical violations.
func Axe(ctx context.Context) ([]Violation, error) {
	// A page that is still navigating (a redirect after a form) can swap
	// its document between injecting axe-core and running it; then the
	// run finds no axe in the new document and the pair is tried again
	// once the new document has loaded.
	var text string
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if text, err = axeOnce(ctx); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var all []Violation
	if err := json.Unmarshal([]byte(text), &all); err != nil {
		return nil, err
	}
	var bad []Violation
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, v)
		}
	}
	return bad, nil
}

// axeOnce waits for the page to finish loading, injects axe-core unless it
// is there and runs it, returning the violations as JSON.
func axeOnce(ctx context.Context) (string, error) {
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.readyState === "complete"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		return "", fmt.Errorf("waiting for the page to load: %w", err)
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return "", err
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
			return "", fmt.Errorf("injecting axe-core: %w", err)
		}
	}
	run := `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	if err != nil {
		return "", fmt.Errorf("running axe-core: %w", err)
	}
	return text, nil
}

// CheckAxe fails t for each serious or critical axe-core violation of the
// tab's page, naming the page.
func CheckAxe(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	vs, err := Axe(ctx)
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target))
		}
		t.Errorf("axe on %s: %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
	}
}
