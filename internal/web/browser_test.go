package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven by chromedp, and what its pages did
// that a test must not let pass: dialogs (alert, confirm), uncaught script
// errors, Content-Security-Policy violations.
type browser struct {
	ctx context.Context // the tab

	mu         sync.Mutex
	dialogs    []string
	exceptions []string
	violations []string
}

// chromium is the browser binary: Debian's chromium, or another Chrome.
// Without one the browser tests are skipped, except in CI (CI=true), where
// they fail: scripts/deps.sh installs it there.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(errNoChromium)
	}
	t.Skip(errNoChromium)
	return ""
}

// newBrowser starts headless Chromium for the test; the test's end stops it.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium(t)),
		// The sandbox needs user namespaces, which containers and root
		// (CI) lack; the browser only opens this test's loopback server.
		chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, text))
		case *log.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.violations = append(b.violations, ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return b
}

// takeViolations returns the policy violations seen so far, and forgets
// them.
func (b *browser) takeViolations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.violations
	b.violations = nil
	return v
}

// check fails the test for every dialog, script error and policy violation
// seen so far.
func (b *browser) check(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.dialogs {
		t.Errorf("a page opened a dialog: %s", d)
	}
	for _, e := range b.exceptions {
		t.Errorf("a page's script failed: %s", e)
	}
	for _, v := range b.violations {
		t.Errorf("a page violated its Content-Security-Policy: %s", v)
	}
	b.dialogs, b.exceptions, b.violations = nil, nil, nil
}

// do runs actions in the browser, failing the test after a timeout.
func (b *browser) do(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot(t, "failed")
		t.Fatalf("browser: %v", err)
	}
}

// eval returns the value of the expression js in the page (awaited, if it
// is a promise).
func eval[T any](t testing.TB, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, awaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func awaitPromise(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }

// waitFor waits until the expression js is true in the page.
func (b *browser) waitFor(t testing.TB, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !eval[bool](t, b, "!!("+js+")") {
		if time.Now().After(deadline) {
			b.screenshot(t, "timeout")
			t.Fatalf("waited %v for %s (%s)", timeout, what, js)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// text is the text of the first element that selector matches ("" for
// none).
func (b *browser) text(t testing.TB, selector string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector))
}

// screenshot saves the page as NAME.png among the test's artifacts.
func (b *browser) screenshot(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", p)
}

// artifactDir is where the test's screenshots go: $TEST_ARTIFACTS/TEST when
// that is set, else t.ArtifactDir() (kept with go test -artifacts, under
// -outputdir).
func artifactDir(t testing.TB) string {
	if root := os.Getenv("TEST_ARTIFACTS"); root != "" {
		dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err == nil {
			return dir
		}
	}
	return t.ArtifactDir()
}

// login logs the browser in with token through the form.
func (b *browser) login(t testing.TB, base, token string) {
	t.Helper()
	b.do(t,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), token),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitReady(chromedp.ID("machines")),
	)
}

// open shows a page of the dashboard and waits for its event stream.
func (b *browser) open(t testing.TB, url string) {
	t.Helper()
	b.do(t, chromedp.Navigate(url))
	b.waitFor(t, "the event stream", `document.getElementById("live").textContent === "live"`, 10*time.Second)
	// Marks the page: a reload would lose it.
	eval[chromedp.Void](t, b, `window.notReloaded = true`)
}

// sample evaluates js in the page every few milliseconds until stop is
// closed, and returns the distinct values it gave, in order. It runs on
// its own goroutine while the test drives the server.
func (b *browser) sample(js string, stop <-chan struct{}) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var seen []string
		for {
			stopped := false
			select {
			case <-stop:
				stopped = true // one more sample: what the page shows at the end
			default:
			}
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+js+")"))
			cancel()
			if err == nil && (len(seen) == 0 || seen[len(seen)-1] != v) {
				seen = append(seen, v)
			}
			if stopped {
				out <- seen
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	return out
}

// replayIn plays a recording on its own goroutine; wait waits for its end.
func replayIn(f *fixture, rec []message, mac, ip string, speedup float64) (wait func(t testing.TB) int) {
	done := make(chan struct{})
	var n int
	var err error
	go func() {
		defer close(done)
		n, err = f.replay(context.Background(), rec, mac, ip, speedup)
	}()
	return func(t testing.TB) int {
		t.Helper()
		<-done
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		return n
	}
}
