package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver the store uses

	"github.com/novamed/partner-api/internal/testenv/pgdb"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// needService skips loudly when a service is missing locally; in CI (CI=true)
// a missing service fails the test instead.
func needService(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s NOT AVAILABLE in CI: %v", what, err)
	}
	t.Skipf("%s NOT AVAILABLE: %v — this multi-replica test did not run", what, err)
}

// freshPostgres returns a database of the test's own with the current
// schema (a copy of the migrated template), dropped afterwards.
func freshPostgres(t *testing.T) string {
	t.Helper()
	return pgdb.Fresh(t)
}

// privateRedis runs a redis-server of the test's own on a free loopback
// port, so stopping it disturbs nobody else.
type privateRedis struct {
	port string
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	_, err := exec.LookPath("redis-server")
	needService(t, "REDIS (redis-server binary)", err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	r := &privateRedis{port: port}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+r.port)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "private redis did not start")
}

func (r *privateRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill() //nolint:errcheck // stopping
		r.cmd.Wait()         //nolint:errcheck // killed
		r.cmd = nil
	}
}

func (r *privateRedis) url() string { return "redis://127.0.0.1:" + r.port + "/0" }

// cluster is N replicas of the real binary on one PostgreSQL and one Redis.
type cluster struct {
	t        *testing.T
	bin      string
	common   []string
	replicas []*process
}

func (c *cluster) start(extra ...string) *process {
	c.t.Helper()
	p := startProcessEnv(c.t, c.bin, []string{"NOVAMED_MASTER_KEY=" + testMasterKey()}, append(append([]string{}, c.common...), extra...)...)
	c.replicas = append(c.replicas, p)
	c.t.Cleanup(p.kill)
	return p
}

func (c *cluster) cli(out any, args ...string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append(args, "--json", "--db", c.common[1], "--redis", c.common[3], "--redis-prefix", c.common[5])...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NOVAMED_MASTER_KEY=" + testMasterKey()}
	b, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("%v: %v", args, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%v: %s", args, b)
		}
	}
}

func call(t *testing.T, method, url, key, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("x-api-key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestReplicasOnPostgresAndRedis(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	dsn := freshPostgres(t)
	rds := startPrivateRedis(t)
	var pfx [4]byte
	rand.Read(pfx[:]) //nolint:errcheck // crypto/rand
	c := &cluster{t: t, bin: buildBinary(t), common: []string{"--db", dsn, "--redis", rds.url(), "--redis-prefix", "e2e-" + hex.EncodeToString(pfx[:]) + ":",
		"--sandbox", "off", "--webhook-poll", "50ms", "--webhook-lease", "6s"}}
	for i := 0; i < 3; i++ {
		c.start("--data-dir", t.TempDir())
	}
	r := c.replicas
	var key issuedKey
	c.cli(&key, "keys", "create", "--clinic", demoClinic, "--rate-limit", "100000")

	// Creates on one replica are visible on every other.
	st, body := call(t, "POST", r[0].url+"/api/external/patient", key.Key, `{"clinic_id":"`+demoClinic+`","first_name":"Rhea","last_name":"Replica","dob":"1970-07-07","state":"TX","city":"Austin"}`)
	if st != 200 {
		t.Fatalf("create: %d %s", st, body)
	}
	var pa struct {
		Data struct {
			ID string `json:"patient_id"`
		}
	}
	json.Unmarshal(body, &pa) //nolint:errcheck // checked by use
	for _, p := range r {
		if st, b := call(t, "GET", p.url+"/api/external/patient/"+pa.Data.ID, key.Key, ""); st != 200 {
			t.Errorf("replica %s cannot read the patient: %d %s", p.url, st, b)
		}
	}

	t.Run("rate limit exact across replicas", func(t *testing.T) {
		var k issuedKey
		c.cli(&k, "keys", "create", "--clinic", demoClinic, "--rate-limit", "10")
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 18; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if st, _ := call(t, "GET", r[i%3].url+"/api/external/me", k.Key, ""); st == 200 {
					ok.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if ok.Load() != 10 {
			t.Errorf("%d of 18 allowed across three replicas, want exactly 10", ok.Load())
		}
	})

	t.Run("idempotent retries on different replicas", func(t *testing.T) {
		body := `{"clinic_id":"` + demoClinic + `","first_name":"Ivy","last_name":"Idem","dob":"1981-01-01"}`
		var wg sync.WaitGroup
		statuses := make([]int, 12)
		for i := range statuses {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				statuses[i], _ = call(t, "POST", r[i%3].url+"/api/external/patient", key.Key, body, "Idempotency-Key", "replica-idem-1")
			}(i)
		}
		wg.Wait()
		for _, s := range statuses {
			if s != 200 && s != 409 {
				t.Errorf("statuses %v: want only 200 and 409", statuses)
				break
			}
		}
		_, list := call(t, "GET", r[1].url+"/api/external/patient?limit=100", key.Key, "")
		if n := strings.Count(string(list), `"first_name":"Ivy"`); n != 1 {
			t.Errorf("%d patients created, want 1", n)
		}
	})

	t.Run("webhook events delivered once", func(t *testing.T) {
		var secret string
		rc := newReceiver(t, &secret)
		st, b := call(t, "POST", r[2].url+"/api/external/webhook", key.Key, `{"clinic_id":"`+demoClinic+`","webhook_url":"`+rc.URL+`"}`)
		var w struct {
			Data struct {
				SigningSecret string `json:"signing_secret"`
			}
		}
		json.Unmarshal(b, &w) //nolint:errcheck // checked below
		secret = w.Data.SigningSecret
		if st != 200 || secret == "" {
			t.Fatalf("webhook: %d %s", st, b)
		}
		for i := 0; i < 9; i++ {
			call(t, "POST", r[i%3].url+"/api/external/webhook/"+webhookIDOf(b)+"/test", key.Key, "")
		}
		rc.waitFor(t, "nine test events", func(ds []delivered) bool { return len(ds) >= 9 })
		// The log of every replica's work: each delivery succeeded with
		// one attempt (a delivery claimed twice would show two). An
		// attempt is sent before it is recorded, so the receiver then has
		// every request there was.
		wait.Until(t, 10*time.Second, func() bool {
			_, lb := call(t, "GET", r[0].url+"/api/external/webhook/"+webhookIDOf(b)+"/deliveries?limit=100", key.Key, "")
			var page struct {
				Data struct {
					Items []struct {
						Status   string
						Attempts []json.RawMessage
					}
				}
			}
			json.Unmarshal(lb, &page) //nolint:errcheck // an empty page waits
			if len(page.Data.Items) != 9 {
				return false
			}
			for _, d := range page.Data.Items {
				if d.Status != "succeeded" {
					return false
				}
				if len(d.Attempts) != 1 {
					t.Fatalf("a delivery was attempted %d times: %s", len(d.Attempts), lb)
				}
			}
			return true
		}, "the nine deliveries are not all marked succeeded")
		got := rc.snapshot()
		seen := map[string]int{}
		for _, d := range got {
			seen[d.ID]++
			if d.SigErr != "" {
				t.Errorf("bad signature: %s", d.SigErr)
			}
		}
		if len(got) != 9 || len(seen) != 9 {
			t.Errorf("%d deliveries for %d events, want each once", len(got), len(seen))
		}
	})

	t.Run("revoke reaches every replica within 2s", func(t *testing.T) {
		var k issuedKey
		c.cli(&k, "keys", "create", "--clinic", demoClinic)
		for _, p := range r {
			if st, _ := call(t, "GET", p.url+"/api/external/me", k.Key, ""); st != 200 {
				t.Fatalf("fresh key refused")
			}
		}
		c.cli(nil, "keys", "revoke", k.ID)
		start := time.Now()
		for _, p := range r {
			wait.Until(t, 2*time.Second-time.Since(start), func() bool {
				st, _ := call(t, "GET", p.url+"/api/external/me", k.Key, "")
				return st == 401
			}, "replica %s still accepts a revoked key after %v", p.url, time.Since(start))
		}
		t.Logf("revocation visible on all replicas after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("redis down: API answers, revoked keys stay refused", func(t *testing.T) {
		var revoked, live issuedKey
		c.cli(&revoked, "keys", "create", "--clinic", demoClinic)
		c.cli(&live, "keys", "create", "--clinic", demoClinic)
		c.cli(nil, "keys", "revoke", revoked.ID) // never used, so in no replica's cache
		rds.stop()
		// Until every replica has noticed the outage (its readiness says
		// redis degraded, and it stays ready: Redis is optional), and
		// meanwhile, each answers with the live key and refuses the revoked one.
		noticed := make([]bool, len(r))
		wait.Until(t, 10*time.Second, func() bool {
			all := true
			for i, p := range r {
				if st, b := call(t, "GET", p.url+"/api/external/me", live.Key, ""); st != 200 {
					t.Fatalf("live key with redis down: %d %s", st, b)
				}
				if st, _ := call(t, "GET", p.url+"/api/external/me", revoked.Key, ""); st != 401 {
					t.Fatalf("revoked key accepted with redis down: %d", st)
				}
				if !noticed[i] {
					st, b := call(t, "GET", p.url+"/readyz", "", "")
					if st != 200 {
						t.Fatalf("readyz with redis down: %d %s, want 200", st, b)
					}
					noticed[i] = strings.Contains(string(b), `"redis":"degraded"`)
				}
				all = all && noticed[i]
			}
			return all
		}, "not every replica's readiness reports redis degraded")
		// A revocation during the outage still lands within the cache expiry.
		cmd := exec.Command(c.bin, "keys", "revoke", live.ID, "--db", dsn, "--redis", rds.url())
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NOVAMED_MASTER_KEY=" + testMasterKey()}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("revoke with redis down: %v %s", err, out)
		}
		revokedAt := time.Now()
		for _, p := range r {
			// Within the key cache's expiry (1 s), with a margin.
			wait.Until(t, 1500*time.Millisecond-time.Since(revokedAt), func() bool {
				st, _ := call(t, "GET", p.url+"/api/external/me", live.Key, "")
				return st == 401
			}, "key revoked during the outage still accepted on %s", p.url)
		}
		rds.start(t)
		wait.Until(t, 5*time.Second, func() bool {
			st, b := call(t, "GET", r[0].url+"/readyz", "", "")
			return st == 200 && strings.Contains(string(b), `"redis":"ok"`)
		}, "readyz did not report redis ok after it returned")
	})

	t.Run("replica killed under load", func(t *testing.T) {
		var mu sync.Mutex
		acked := map[string]string{} // idempotency key → patient id
		var n atomic.Int64
		var failuresOnSurvivors atomic.Int64
		killed := atomic.Bool{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for ctx.Err() == nil {
					i := n.Add(1)
					target := r[int(i)%3]
					ik := fmt.Sprintf("kill-%d", i)
					st, b := call(t, "POST", target.url+"/api/external/patient", key.Key,
						fmt.Sprintf(`{"clinic_id":%q,"first_name":"Kim%d","last_name":"Killtest","dob":"1990-01-01"}`, demoClinic, i), "Idempotency-Key", ik)
					if st == 200 {
						var p struct {
							Data struct {
								ID string `json:"patient_id"`
							}
						}
						json.Unmarshal(b, &p) //nolint:errcheck // checked later
						mu.Lock()
						acked[ik] = p.Data.ID
						mu.Unlock()
					} else if target != r[1] || !killed.Load() {
						failuresOnSurvivors.Add(1)
					}
				}
			}(w)
		}
		// Load on all three, then the kill under load, then load on the
		// two survivors: each phase lasts until it has acknowledged writes.
		acks := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
		wait.Until(t, 20*time.Second, func() bool { return acks() >= 30 }, "writes before the kill: %d acknowledged", acks())
		killed.Store(true)
		r[1].kill()
		afterKill := acks()
		wait.Until(t, 20*time.Second, func() bool { return acks() >= afterKill+30 }, "writes after the kill: %d acknowledged", acks()-afterKill)
		cancel()
		wg.Wait()
		if failuresOnSurvivors.Load() > 0 {
			t.Errorf("%d requests to surviving replicas failed", failuresOnSurvivors.Load())
		}
		for ik, id := range acked {
			if st, _ := call(t, "GET", r[0].url+"/api/external/patient/"+id, key.Key, ""); st != 200 {
				t.Errorf("acknowledged write %s (%s) is missing", ik, id)
			}
		}
		t.Logf("%d acknowledged creates, all present after the kill", len(acked))

		// Each has its audit record in a chain that verifies, those the
		// killed replica answered included (chained by a survivor).
		var verified struct {
			OK      bool  `json:"ok"`
			Checked int64 `json:"checked"`
		}
		c.cli(&verified, "audit", "verify")
		if !verified.OK || verified.Checked < int64(len(acked)) {
			t.Errorf("audit verify after the kill: %+v, want ok and at least %d records", verified, len(acked))
		}
		cmd := exec.Command(c.bin, "audit", "export", "--db", c.common[1])
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NOVAMED_MASTER_KEY=" + testMasterKey()}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("audit export: %v", err)
		}
		created := map[string]bool{}
		dec := json.NewDecoder(bytes.NewReader(out))
		for dec.More() {
			var rec struct {
				Action      string   `json:"action"`
				ResourceIDs []string `json:"resource_ids"`
			}
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("audit export: %v", err)
			}
			if rec.Action == "patient.create" {
				for _, id := range rec.ResourceIDs {
					created[id] = true
				}
			}
		}
		for ik, id := range acked {
			if !created[id] {
				t.Errorf("acknowledged create %s (%s) has no audit record", ik, id)
			}
		}
	})
}

func webhookIDOf(createBody []byte) string {
	var w struct {
		Data struct {
			ID string `json:"webhook_id"`
		}
	}
	json.Unmarshal(createBody, &w) //nolint:errcheck // "" fails the caller
	return w.Data.ID
}

// TestReplicaDiesHoldingADelivery: a replica killed while a delivery is in
// flight leaves a lease; another replica picks it up after the lease.
func TestReplicaDiesHoldingADelivery(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	dsn := freshPostgres(t)
	bin := buildBinary(t)
	common := []string{"--db", dsn, "--sandbox", "off", "--webhook-poll", "50ms", "--webhook-lease", "6s"}
	env := []string{"NOVAMED_MASTER_KEY=" + testMasterKey()}
	first := startProcessEnv(t, bin, env, append(common, "--data-dir", t.TempDir())...)
	t.Cleanup(first.kill)
	key := devKeyIn(first.out)
	var mu sync.Mutex
	var ids []string
	release := make(chan struct{})
	recv := newLoopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		n := len(ids)
		mu.Unlock()
		if n == 1 {
			<-release // the first attempt hangs until its replica is dead
		}
		w.WriteHeader(200)
	})
	st, b := call(t, "POST", first.url+"/api/external/webhook", key, `{"clinic_id":"`+demoClinic+`","webhook_url":"`+recv+`"}`)
	if st != 200 {
		t.Fatalf("webhook: %d %s", st, b)
	}
	call(t, "POST", first.url+"/api/external/webhook/"+webhookIDOf(b)+"/test", key, "")
	attempts := func() int { mu.Lock(); defer mu.Unlock(); return len(ids) }
	wait.Until(t, 10*time.Second, func() bool { return attempts() == 1 }, "first attempt never arrived")
	first.kill()
	close(release)
	second := startProcessEnv(t, bin, env, append(common, "--data-dir", t.TempDir())...)
	t.Cleanup(second.kill)
	wait.Until(t, 20*time.Second, func() bool { return attempts() >= 2 }, "the surviving replica never picked up the abandoned delivery")
	mu.Lock()
	defer mu.Unlock()
	if ids[0] != ids[1] {
		t.Errorf("the retry has another webhook-id: %s vs %s", ids[0], ids[1])
	}
}
