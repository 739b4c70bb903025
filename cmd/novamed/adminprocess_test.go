package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newClusterOf is newProdCluster for env: n replicas of the real binary on
// one database (PostgreSQL in the suite's PostgreSQL pass, else one SQLite
// file) and one private Redis.
func newClusterOf(t *testing.T, env string, n int) *prodCluster {
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
		common: []string{"--db", db, "--redis", rds.url(), "--redis-prefix", "admin-e2e-" + hex.EncodeToString(pfx[:]) + ":", "--env", env}}
	for range n {
		p := startProcessEnv(t, c.bin, c.env, append(append([]string{}, c.common...), "--data-dir", t.TempDir())...)
		t.Cleanup(p.kill)
		c.replicas = append(c.replicas, p)
	}
	return c
}

// bootstrapAdmin creates an admin and issues their token on the database
// host (direct database mode, the only steps there); it returns the
// operator id and the token.
func (c *prodCluster) bootstrapAdmin(email string) (id, token string) {
	c.t.Helper()
	pw := filepath.Join(c.t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a long password for "+email+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	var admin createdOperator
	c.mustCLI(&admin, "operators", "create", "--email", email, "--role", "admin", "--password-file", pw)
	var tok struct{ Token string }
	c.mustCLI(&tok, "operators", "token", "--email", email)
	if admin.ID == "" || !strings.HasPrefix(tok.Token, "op_") {
		c.t.Fatalf("bootstrap: operator %+v, token %.3s…", admin, tok.Token)
	}
	return admin.ID, tok.Token
}

// remote runs an operator command as its own process with --server url
// and the operator token, from a folder with no database, no master key
// and no checkpoint key; it returns stdout and, on failure, the error.
func (c *prodCluster) remote(url, token string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append(append([]string{}, args...), "--json", "--server", url, "--data-dir", filepath.Join(c.t.TempDir(), "empty"))...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.t.TempDir(), "USER=opstest", "NOVAMED_OPERATOR_TOKEN=" + token}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if strings.Contains(stderr.String(), "direct database mode") {
		c.t.Fatalf("%v --server announced direct database mode: %s", args, stderr.String())
	}
	if err != nil {
		return string(out), &cliFailure{line: strings.TrimSpace(stderr.String()), err: err}
	}
	return string(out), nil
}

// mustRemote is remote that must succeed, its one JSON object decoded
// into out.
func (c *prodCluster) mustRemote(url, token string, out any, args ...string) {
	c.t.Helper()
	stdout, err := c.remote(url, token, args...)
	if err != nil {
		c.t.Fatalf("%v --server %s: %v", args, url, err)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			c.t.Fatalf("%v --server: not one JSON object: %s", args, stdout)
		}
	}
}

// cliFailure is a CLI process that exited non-zero, with its stderr.
type cliFailure struct {
	line string
	err  error
}

func (f *cliFailure) Error() string { return f.err.Error() + ": " + f.line }

// operatorActions is audit export --actor operator:<id> --server: the
// actions of the records (all of that operator) with their statuses.
func (c *prodCluster) operatorActions(url, token, id string) map[string][]int {
	c.t.Helper()
	out, err := c.remote(url, token, "audit", "export", "--actor", "operator:"+id)
	if err != nil {
		c.t.Fatalf("audit export --server: %v", err)
	}
	actions := map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Actor, Action string
			Status        int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			c.t.Fatalf("audit export line %q: %v", line, err)
		}
		if rec.Actor != "operator:"+id {
			c.t.Fatalf("audit export --actor operator:%s gave a record of %q", id, rec.Actor)
		}
		actions[rec.Action] = append(actions[rec.Action], rec.Status)
	}
	return actions
}

// verifyRemote runs audit verify --server and fails unless the trail is
// intact.
func (c *prodCluster) verifyRemote(url, token string) {
	c.t.Helper()
	var v struct {
		OK      bool  `json:"ok"`
		Checked int64 `json:"checked"`
	}
	c.mustRemote(url, token, &v, "audit", "verify")
	if !v.OK || v.Checked == 0 {
		c.t.Fatalf("audit verify --server: %+v", v)
	}
}

// TestAdminAPIAgainstProcesses is issue 22's end-to-end flow against real
// processes and through the admin API only: every operator step after the
// bootstrap is the CLI with --server and an operator token, as its own
// process, from a folder with no database and no key. On a development
// server an admin bootstrapped on the database host creates a partner and
// a clinic and issues a development key that works. On a production
// deployment of three replicas the production key is refused while the
// BAA is missing and issued once it is recorded; the partner suspended
// through one replica gets its key 401 on every replica within 2 s, and
// reinstated through another, 200 again within 2 s. In both, audit export
// --actor operator:<id> shows each action with the admin's id and audit
// verify passes. SQLite, or PostgreSQL in the suite's PostgreSQL pass.
func TestAdminAPIAgainstProcesses(t *testing.T) {
	t.Parallel()
	t.Run("development", func(t *testing.T) {
		c := newClusterOf(t, "development", 1)
		url := c.replicas[0].url
		id, token := c.bootstrapAdmin("admin@dev-ops.test")
		var partner struct{ ID, Status string }
		c.mustRemote(url, token, &partner, "partners", "create", "--name", "Process Dev Health")
		c.mustRemote(url, token, &partner, "partners", "approve", partner.ID)
		if partner.Status != "approved" {
			t.Fatalf("partner after approve: %+v", partner)
		}
		var clinic struct {
			ID        string
			PartnerID string `json:"partner_id"`
		}
		c.mustRemote(url, token, &clinic, "clinics", "create", "--name", "Process Dev Clinic", "--partner", partner.ID)
		var key issuedKey
		c.mustRemote(url, token, &key, "keys", "create", "--clinic", clinic.ID)
		if clinic.PartnerID != partner.ID || !strings.HasPrefix(key.Key, "dev_") {
			t.Fatalf("clinic %+v, key %.4s…", clinic, key.Key)
		}
		if st, b := call(t, "GET", url+"/api/external/me", key.Key, ""); st != 200 {
			t.Fatalf("the development key on the partner API: %d %s", st, b)
		}
		actions := c.operatorActions(url, token, id)
		for _, want := range []string{"partner.create", "partner.approve", "clinic.create", "api_key.issue"} {
			if len(actions[want]) == 0 || actions[want][len(actions[want])-1] != 200 {
				t.Errorf("audit export --actor operator:%s: %s %v (all: %v)", id, want, actions[want], actions)
			}
		}
		c.verifyRemote(url, token)
	})

	t.Run("production", func(t *testing.T) {
		c := newClusterOf(t, "production", 3)
		url := c.replicas[0].url
		id, token := c.bootstrapAdmin("admin@prod-ops.test")
		var partner struct{ ID, Status string }
		c.mustRemote(url, token, &partner, "partners", "create", "--name", "Process Prod Health")
		c.mustRemote(url, token, &partner, "partners", "approve", partner.ID)
		var clinic struct{ ID string }
		c.mustRemote(url, token, &clinic, "clinics", "create", "--name", "Process Prod Clinic", "--partner", partner.ID)
		_, err := c.remote(url, token, "keys", "create", "--clinic", clinic.ID)
		var failure *cliFailure
		if err == nil || !errors.As(err, &failure) || !strings.Contains(failure.line, "no BAA on record") || !strings.Contains(failure.line, "BAA_REQUIRED") {
			t.Fatalf("a production key while the BAA is missing: %v; want the BAA_REQUIRED refusal", err)
		}
		c.mustRemote(url, token, nil, "partners", "baa", partner.ID, "--signed-on", "2026-01-15", "--signer", "Pat Signer", "--document", "sha256:9f86d081")
		var key issuedKey
		c.mustRemote(url, token, &key, "keys", "create", "--clinic", clinic.ID)
		if !strings.HasPrefix(key.Key, "prod_") {
			t.Fatalf("issued %.5s…, want a production key", key.Key)
		}
		c.waitAll(key.Key, 200, 2*time.Second)

		c.mustRemote(c.replicas[1].url, token, nil, "partners", "suspend", partner.ID)
		took := c.waitAll(key.Key, 401, 2*time.Second)
		t.Logf("suspended through replica 2: the key refused on all 3 replicas after %v", took.Round(time.Millisecond))
		c.mustRemote(c.replicas[2].url, token, nil, "partners", "reinstate", partner.ID)
		took = c.waitAll(key.Key, 200, 2*time.Second)
		t.Logf("reinstated through replica 3: the key accepted on all 3 replicas after %v", took.Round(time.Millisecond))

		actions := c.operatorActions(url, token, id)
		for _, want := range []string{"partner.create", "partner.approve", "clinic.create", "partner.baa_record", "api_key.issue", "partner.suspend", "partner.reinstate"} {
			if len(actions[want]) == 0 || actions[want][len(actions[want])-1] != 200 {
				t.Errorf("audit export --actor operator:%s: %s %v (all: %v)", id, want, actions[want], actions)
			}
		}
		if issued := actions["api_key.issue"]; len(issued) != 2 || issued[0] != 409 {
			t.Errorf("api_key.issue records %v; want the refusal (409) then the issue (200)", issued)
		}
		c.verifyRemote(url, token)
	})
}
