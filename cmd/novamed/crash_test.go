package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// process is a real `novamed serve` process, so it can be SIGKILLed.
type process struct {
	cmd *exec.Cmd
	url string
	out string
}

// builtBinary is the novamed binary the process tests run, built once for
// the whole test binary (tests run in parallel; each used to build its
// own): its folder is removed by TestMain.
var builtBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func buildBinary(t *testing.T) string {
	t.Helper()
	b := &builtBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "novamed-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "novamed")
		if out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// removeBuiltBinary removes the binary buildBinary made, if any.
func removeBuiltBinary() {
	if builtBinary.dir != "" {
		os.RemoveAll(builtBinary.dir)
	}
}

func startProcess(t *testing.T, bin, dataDir string, extra ...string) *process {
	t.Helper()
	return startProcessEnv(t, bin, nil, append([]string{"--data-dir", dataDir}, extra...)...)
}

// startProcessEnv starts `novamed serve` with extra environment and flags.
func startProcessEnv(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	sc := bufio.NewScanner(stdout)
	var all strings.Builder
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	if p.url == "" {
		cmd.Process.Kill()
		t.Fatalf("server process did not start: %s", all.String())
	}
	p.out = all.String()
	go io.Copy(io.Discard, stdout) //nolint:errcheck // drain
	return p
}

func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // it may have exited
	p.cmd.Wait()                          //nolint:errcheck // killed on purpose
}

// TestWebhookEventSurvivesSIGKILL: an event committed while the delivery
// worker is idle, then a SIGKILL: after restart it is delivered.
func TestWebhookEventSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	bin := buildBinary(t)
	dataDir := t.TempDir()
	var secret string
	rc := newReceiver(t, &secret)
	// The worker looks once at start, then not for an hour.
	p := startProcess(t, bin, dataDir, "--sandbox", "off", "--webhook-poll", "1h")
	key := regexp.MustCompile(`Development key:\s+(\S+)`).FindStringSubmatch(p.out)[1]
	do := func(url, method, path, body string) []byte {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	var created struct {
		Data struct {
			ID     string `json:"webhook_id"`
			Secret string `json:"signing_secret"`
		}
	}
	json.Unmarshal(do(p.url, "POST", "/api/external/webhook", `{"clinic_id":"`+demoClinic+`","webhook_url":"`+rc.URL+`"}`), &created) //nolint:errcheck // checked below
	secret = created.Data.Secret
	if created.Data.ID == "" {
		t.Fatal("no webhook created")
	}
	do(p.url, "POST", "/api/external/webhook/"+created.Data.ID+"/test", "")
	p.kill()
	// Nothing was sent before the kill (the worker had looked once, at
	// start): the event is only in the store, queued.
	if n := len(rc.snapshot()); n != 0 {
		t.Fatalf("delivered before the kill (%d); the test needs an idle worker", n)
	}
	p = startProcess(t, bin, dataDir, "--sandbox", "off", "--webhook-poll", "20ms")
	defer p.kill()
	got := rc.waitFor(t, "the event after restart", func(ds []delivered) bool { return len(ds) >= 1 })
	if got[0].Name != "webhook:test" || got[0].SigErr != "" {
		t.Errorf("after restart: %+v", got[0])
	}
}

func devKeyIn(out string) string {
	m := regexp.MustCompile(`Development key:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// newLoopbackServer serves h on 127.0.0.1 for the test's lifetime.
func newLoopbackServer(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAnsweredReadAuditSurvivesSIGKILL: in the default (incremental) audit
// durability mode, with a flush window so long that no flush can have run,
// the audit record of an answered patient read is in the trail after the
// process is SIGKILLed right after the answer: the record was handed to the
// OS before the answer left.
func TestAnsweredReadAuditSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	bin := buildBinary(t)
	dataDir := t.TempDir()
	p := startProcess(t, bin, dataDir, "--sandbox", "off", "--audit-flush-window", "10s")
	defer func() { p.kill() }()
	raw, err := exec.Command(bin, "keys", "create", "--clinic", demoClinic, "--json", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	var issued issuedKey
	json.Unmarshal(raw, &issued) //nolint:errcheck // checked by use
	do := func(method, path, body string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		req.Header.Set("x-api-key", issued.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct{ Data map[string]any }
		json.NewDecoder(resp.Body).Decode(&env) //nolint:errcheck // checked by use
		return resp, env.Data
	}
	resp, created := do("POST", "/api/external/patient", `{"clinic_id":"`+demoClinic+`","first_name":"Rhea","last_name":"Read","dob":"1980-01-01"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	id, _ := created["id"].(string)
	var reads []string
	for i := 0; i < 3; i++ {
		resp, _ := do("GET", "/api/external/patient/"+id, "")
		if resp.StatusCode != 200 {
			t.Fatalf("read: %d", resp.StatusCode)
		}
		reads = append(reads, resp.Header.Get("X-Request-Id"))
	}
	p.kill()
	out, err := exec.Command(bin, "audit", "export", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, rid := range reads {
		if !strings.Contains(string(out), `"request_id":"`+rid+`"`) {
			t.Errorf("the answered read %s has no audit record after SIGKILL:\n%s", rid, out)
		}
	}
	if out, err := exec.Command(bin, "audit", "verify", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}
