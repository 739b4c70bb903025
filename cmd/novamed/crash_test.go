package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
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
	"time"
)

// process is a real `novamed serve` process, so it can be SIGKILLed.
type process struct {
	cmd *exec.Cmd
	url string
	out string
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "novamed")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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

// TestCrashDuringIdempotentCreates kills the server with SIGKILL in the
// middle of idempotent creates, restarts it, and retries every request with
// its key: each key yields exactly one patient, every answer acknowledged
// before the kill is replayed unchanged, and the audit chain still verifies.
func TestCrashDuringIdempotentCreates(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	p := startProcess(t, bin, dataDir)
	// A key with a limit high enough for the load (the default is 100/min).
	raw, err := exec.Command(bin, "keys", "create", "--clinic", demoClinic, "--rate-limit", "1000000", "--json", "--data-dir", dataDir).Output()
	if err != nil {
		p.kill()
		t.Fatalf("keys create: %v", err)
	}
	var issued issuedKey
	if err := json.Unmarshal(raw, &issued); err != nil {
		p.kill()
		t.Fatal(err)
	}
	key := issued.Key
	body := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"clinic_id":%q,"first_name":"Crash%d","last_name":"Survivor","dob":"1980-01-01"}`, demoClinic, i))
	}
	post := func(url string, i int) (int, string, error) {
		req, _ := http.NewRequest("POST", url+"/api/external/patient", bytes.NewReader(body(i)))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var env struct {
			Data struct {
				PatientID string `json:"patient_id"`
			}
		}
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &env) //nolint:errcheck // status tells
		return resp.StatusCode, env.Data.PatientID, nil
	}

	acked := map[int]string{} // key index → patient id answered before a kill
	attempted := 0
	var mu sync.Mutex
	const kills = 3
	for round := 0; round < kills; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					i := attempted
					attempted++
					mu.Unlock()
					status, id, err := post(p.url, i)
					if err == nil && status == 200 {
						mu.Lock()
						acked[i] = id
						mu.Unlock()
					}
					if err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(150+rand.IntN(300)) * time.Millisecond)
		p.kill()
		cancel()
		wg.Wait()
		p = startProcess(t, bin, dataDir)
	}
	defer p.kill()
	if len(acked) == 0 {
		t.Fatalf("no request was acknowledged before the kills")
	}
	// Retry every request ever attempted with its key.
	for i := 0; i < attempted; i++ {
		status, id, err := post(p.url, i)
		if err != nil || status != 200 {
			t.Fatalf("retry %d: %d %v", i, status, err)
		}
		if want, ok := acked[i]; ok && id != want {
			t.Errorf("retry %d answered patient %s, acknowledged %s before the crash", i, id, want)
		}
	}
	// Exactly one patient per key.
	seen := map[string]int{}
	cursor := ""
	for {
		req, _ := http.NewRequest("GET", p.url+"/api/external/patient?limit=100&cursor="+cursor, nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data struct {
				Items []struct {
					FirstName string `json:"first_name"`
				}
				NextCursor *string `json:"next_cursor"`
			}
		}
		json.NewDecoder(resp.Body).Decode(&env) //nolint:errcheck // checked by counts
		resp.Body.Close()
		for _, it := range env.Data.Items {
			seen[it.FirstName]++
		}
		if env.Data.NextCursor == nil {
			break
		}
		cursor = *env.Data.NextCursor
	}
	if len(seen) != attempted {
		t.Errorf("%d distinct patients, want %d (one per key)", len(seen), attempted)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", name, n)
		}
	}
	p.kill()
	out, err := exec.Command(bin, "audit", "verify", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Errorf("audit verify after %d kills: %v\n%s", kills, err, out)
	}
	t.Logf("%d kills, %d requests attempted, %d acknowledged before a kill", kills, attempted, len(acked))
}

// TestWebhookEventSurvivesSIGKILL: an event committed while the delivery
// worker is idle, then a SIGKILL: after restart it is delivered.
func TestWebhookEventSurvivesSIGKILL(t *testing.T) {
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
			Secret string `json:"secret"`
		}
	}
	json.Unmarshal(do(p.url, "POST", "/api/external/webhook", `{"clinic_id":"`+demoClinic+`","webhook_url":"`+rc.URL+`"}`), &created) //nolint:errcheck // checked below
	secret = created.Data.Secret
	if created.Data.ID == "" {
		t.Fatal("no webhook created")
	}
	do(p.url, "POST", "/api/external/webhook/"+created.Data.ID+"/test", "")
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.snapshot()); n != 0 {
		t.Fatalf("delivered before the kill (%d); the test needs an idle worker", n)
	}
	p.kill()
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
