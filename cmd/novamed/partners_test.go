package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

// prodCluster is N production replicas of the real binary on one database
// (PostgreSQL in the suite's PostgreSQL pass, else one SQLite file) and one
// Redis, with the operator CLI run as its own process too.
type prodCluster struct {
	t        *testing.T
	bin      string
	db       string
	env      []string
	common   []string // --db, --redis, --redis-prefix, --env
	replicas []*process
}

func newProdCluster(t *testing.T, n int) *prodCluster {
	t.Helper()
	db := "sqlite:" + filepath.Join(t.TempDir(), "novamed.db")
	if onPostgres() {
		db = freshPostgres(t)
	}
	rds := startPrivateRedis(t)
	var pfx [4]byte
	rand.Read(pfx[:]) //nolint:errcheck // crypto/rand
	c := &prodCluster{t: t, bin: buildBinary(t), db: db,
		env:    []string{"NOVAMED_MASTER_KEY=" + testMasterKey(), "NOVAMED_CHECKPOINT_KEY_FILE=" + testCheckpointKeyFile(t)},
		common: []string{"--db", db, "--redis", rds.url(), "--redis-prefix", "partners-" + hex.EncodeToString(pfx[:]) + ":", "--env", "production"}}
	for i := 0; i < n; i++ {
		p := startProcessEnv(t, c.bin, c.env, append(append([]string{}, c.common...), "--data-dir", t.TempDir())...)
		t.Cleanup(p.kill)
		c.replicas = append(c.replicas, p)
	}
	return c
}

// cli runs an operator command as its own process; it returns the error
// line on failure.
func (c *prodCluster) cli(out any, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append(append(args, "--json"), c.common...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "USER=opstest"}, c.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		// The error, without direct database mode's notice line.
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if !strings.HasPrefix(l, "novamed: direct database mode") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n"), err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%v: not one JSON object: %s", args, b)
		}
	}
	return "", nil
}

func (c *prodCluster) mustCLI(out any, args ...string) {
	c.t.Helper()
	if line, err := c.cli(out, args...); err != nil {
		c.t.Fatalf("%v: %v: %s", args, err, line)
	}
}

// waitAll polls every replica until GET /me with key answers want, and
// fails if one has not by deadline. It returns how long it took.
func (c *prodCluster) waitAll(key string, want int, deadline time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for _, p := range c.replicas {
		var st int
		var b []byte
		if !wait.For(deadline-time.Since(start), func() bool {
			st, b = call(c.t, "GET", p.url+"/api/external/me", key, "")
			return st == want
		}) {
			c.t.Fatalf("replica %s answers %d (%s) %v after the change, want %d", p.url, st, b, time.Since(start), want)
		}
	}
	return time.Since(start)
}

// TestProductionKeysNeedABAAAndFollowThePartner: on a production
// deployment of three replicas, a production key is refused while the
// partner's BAA is missing and issued once it is recorded; suspending the
// partner gets its key 401 on every replica within 2 s, reinstating
// brings it back; a BAA that has expired refuses the key (and new ones)
// until a renewal is recorded; listings flag the expired BAA.
func TestProductionKeysNeedABAAAndFollowThePartner(t *testing.T) {
	t.Parallel()
	c := newProdCluster(t, 3)
	var partner struct {
		ID     string
		Status string
	}
	c.mustCLI(&partner, "partners", "create", "--name", "Acme Telehealth", "--contact", "Dana Ops <ops@acme.test>")
	if partner.ID == "" || partner.Status != "onboarding" {
		t.Fatalf("partners create: %+v", partner)
	}
	var clinic struct {
		ID        string
		PartnerID string `json:"partner_id"`
	}
	c.mustCLI(&clinic, "clinics", "create", "--name", "Acme North", "--partner", partner.ID)
	if clinic.PartnerID != partner.ID {
		t.Fatalf("clinic partner %q, want %q", clinic.PartnerID, partner.ID)
	}
	if line, err := c.cli(nil, "clinics", "create", "--name", "No partner"); err == nil || !strings.Contains(line, "--partner is required in production") {
		t.Errorf("clinics create without --partner in production: %v %q", err, line)
	}

	// Not approved yet: refused with the reason; then approved, but no
	// BAA: refused with the reason.
	var key issuedKey
	if line, err := c.cli(&key, "keys", "create", "--clinic", clinic.ID); err == nil || !strings.Contains(line, "is onboarding: keys are issued only to an approved partner") {
		t.Fatalf("a key for an onboarding partner: %v %q", err, line)
	}
	c.mustCLI(nil, "partners", "approve", partner.ID)
	line, err := c.cli(&key, "keys", "create", "--clinic", clinic.ID)
	if err == nil || !strings.Contains(line, "has no BAA on record: production keys need a signed BAA") || strings.Contains(line, "\n") {
		t.Fatalf("a production key without a BAA: %v %q, want one line naming the missing BAA", err, line)
	}
	var list struct {
		Partners []struct {
			ID       string
			BAAState string `json:"baa_state"`
			Flags    []string
		}
	}
	c.mustCLI(&list, "partners", "list")
	if len(list.Partners) != 1 || list.Partners[0].BAAState != "missing" || strings.Join(list.Partners[0].Flags, ",") != "BAA missing" {
		t.Errorf("partners list without a BAA: %+v", list.Partners)
	}

	c.mustCLI(nil, "partners", "baa", partner.ID, "--signed-on", "2025-01-15", "--signer", "Pat Signer", "--document", "sha256:9f86d081")
	c.mustCLI(&key, "keys", "create", "--clinic", clinic.ID)
	if !strings.HasPrefix(key.Key, "prod_") {
		t.Fatalf("issued key %q is not a production key", key.Key)
	}
	c.waitAll(key.Key, 200, 2*time.Second)

	// Suspended: 401 on every replica within 2 s; reinstated: back.
	c.mustCLI(nil, "partners", "suspend", partner.ID)
	took := c.waitAll(key.Key, 401, 2*time.Second)
	t.Logf("suspension refused the key on every replica after %v", took.Round(time.Millisecond))
	if line, err := c.cli(nil, "keys", "create", "--clinic", clinic.ID); err == nil || !strings.Contains(line, "is suspended") {
		t.Errorf("a key for a suspended partner: %v %q", err, line)
	}
	c.mustCLI(nil, "partners", "reinstate", partner.ID)
	took = c.waitAll(key.Key, 200, 2*time.Second)
	t.Logf("reinstatement accepted the key on every replica after %v", took.Round(time.Millisecond))

	// A BAA that has expired (recorded with a past expiry, signed after
	// the first one, so it is the one on record) refuses the key, and
	// new production keys, until a renewal is recorded.
	c.mustCLI(nil, "partners", "baa", partner.ID, "--signed-on", "2025-02-01", "--signer", "Pat Signer", "--expires-on", "2025-03-01")
	c.waitAll(key.Key, 401, 2*time.Second)
	if line, err := c.cli(nil, "keys", "create", "--clinic", clinic.ID); err == nil || !strings.Contains(line, "BAA expired on 2025-03-01") {
		t.Errorf("a key for a partner whose BAA expired: %v %q", err, line)
	}
	c.mustCLI(&list, "partners", "list")
	if len(list.Partners) != 1 || list.Partners[0].BAAState != "expired" || strings.Join(list.Partners[0].Flags, ",") != "BAA expired on 2025-03-01" {
		t.Errorf("partners list with an expired BAA: %+v", list.Partners)
	}
	var keys struct {
		Keys []struct {
			ID    string
			Flags []string
		}
	}
	c.mustCLI(&keys, "keys", "list")
	if len(keys.Keys) != 1 || strings.Join(keys.Keys[0].Flags, ",") != "BAA expired (key refused)" {
		t.Errorf("keys list with an expired BAA: %+v", keys.Keys)
	}
	c.mustCLI(nil, "partners", "baa", partner.ID, "--signed-on", "2025-04-01", "--signer", "Pat Signer", "--expires-on", "2099-04-01")
	c.waitAll(key.Key, 200, 2*time.Second)

	// Every operator action is in the audit trail, with the local actor.
	cmd := exec.Command(c.bin, "audit", "export", "--db", c.db, "--env", "production")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("audit export: %v", err)
	}
	for _, action := range []string{"partner.create", "clinic.create", "partner.approve", "partner.baa_record", "api_key.issue", "partner.suspend", "partner.reinstate"} {
		if !strings.Contains(string(out), `"action":"`+action+`"`) {
			t.Errorf("audit export lacks %s", action)
		}
	}
	if !strings.Contains(string(out), `"actor":"local:`) {
		t.Errorf("audit export does not name the local operator")
	}
}

// TestSuspendedPartnerWebhooksAreHeld: while a partner is suspended its
// webhook deliveries are held (pending, no attempt spent) as other
// partners' deliveries go out; reinstated, the held delivery is sent and
// its key works again.
func TestSuspendedPartnerWebhooksAreHeld(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off", "--webhook-poll", "20ms")
	partner := ts.newPartner("Held Health", false)
	var clinic struct{ ID string }
	ts.mustCLI(&clinic, "clinics", "create", "--name", "Held North", "--partner", partner)
	key := ts.newKey("--clinic", clinic.ID)
	var renamed struct {
		Name      string
		PartnerID string `json:"partner_id"`
	}
	ts.mustCLI(&renamed, "clinics", "update", clinic.ID, "--name", "Held South")
	if renamed.Name != "Held South" || renamed.PartnerID != partner {
		t.Errorf("clinics update --name: %+v", renamed)
	}

	var secretP, secretD string
	rcP, rcD := newReceiver(t, &secretP), newReceiver(t, &secretD)
	wp := registerWebhook(t, ts, key.Key, clinic.ID, rcP.URL+"/p")
	secretP = wp.SigningSecret
	wd := registerWebhook(t, ts, ts.Key, demoClinic, rcD.URL+"/d")
	secretD = wd.SigningSecret
	r := ts.req("POST", "/api/external/practitioner", key.Key, map[string]any{
		"clinic_id": clinic.ID, "first_name": "Hal", "last_name": "Held", "email": "hal@held.test", "npi": "1234567893", "phone": "+1-555-0100"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)

	ts.mustCLI(nil, "partners", "suspend", partner)
	// Without Redis the key cache expiry (1 s) bounds the delay.
	wait.Until(t, 2*time.Second, func() bool { return ts.req("GET", "/api/external/me", key.Key, nil).Status == 401 },
		"the suspended partner's key is still accepted")
	// An operator activates the suspended partner's practitioner: the
	// event is recorded, its delivery held. The development partner's
	// test event, sent after it, is delivered.
	ts.mustCLI(nil, "practitioners", "activate", pr.ID)
	expectOK(t, ts.req("POST", "/api/external/webhook/"+wd.ID+"/test", ts.Key, nil))
	rcD.waitFor(t, "the other partner's test event", func(ds []delivered) bool { return len(ds) >= 1 })
	expectOK(t, ts.req("POST", "/api/external/webhook/"+wd.ID+"/test", ts.Key, nil))
	rcD.waitFor(t, "a second test event of the other partner", func(ds []delivered) bool { return len(ds) >= 2 })
	if got := rcP.snapshot(); len(got) != 0 {
		t.Fatalf("a suspended partner's webhook received %+v", got)
	}
	var log struct {
		Deliveries []struct {
			EventName string `json:"event_name"`
			Status    string
			Attempts  int `json:"attempt_count"`
		}
	}
	ts.mustCLI(&log, "webhooks", "deliveries", "--webhook", wp.ID)
	if len(log.Deliveries) != 1 || log.Deliveries[0].EventName != "practitioner:activated" || log.Deliveries[0].Status != "pending" || log.Deliveries[0].Attempts != 0 {
		t.Fatalf("the held delivery: %+v, want one pending practitioner:activated without attempts", log.Deliveries)
	}

	ts.mustCLI(nil, "partners", "reinstate", partner)
	got := rcP.waitFor(t, "the held delivery after reinstatement", func(ds []delivered) bool { return len(ds) >= 1 })
	if got[0].Name != "practitioner:activated" || got[0].SigErr != "" || got[0].Data["practitioner_id"] != pr.ID {
		t.Errorf("the released delivery: %+v", got[0])
	}
	wait.Until(t, 2*time.Second, func() bool { return ts.req("GET", "/api/external/me", key.Key, nil).Status == 200 },
		"the reinstated partner's key is still refused")
}
