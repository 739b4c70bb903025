package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// adminReq sends an admin API request with an operator token ("" for
// none) and decodes the envelope.
func adminReq(t *testing.T, ts *testServer, method, path, token string, body any) *response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := &response{Status: resp.StatusCode, Header: resp.Header}
	out.Body, _ = io.ReadAll(resp.Body)
	if err := json.Unmarshal(out.Body, &out.Env); err != nil {
		t.Fatalf("%s %s: response is not the JSON envelope (%d): %q", method, path, resp.StatusCode, out.Body)
	}
	if out.Env.Success != (resp.StatusCode < 400) || (!out.Env.Success && (out.Env.Error.Code == "" || out.Env.Error.RequestID == "")) {
		t.Errorf("%s %s: %d with envelope %s", method, path, resp.StatusCode, out.Body)
	}
	return out
}

// adminFixture starts a development server with one operator per role
// and, for the admin, an expired and a revoked token besides a good one.
type adminFixture struct {
	ts      *testServer
	tokens  map[operator.Role]string
	ids     map[operator.Role]string
	expired string
	revoked string
}

func newAdminFixture(t *testing.T) *adminFixture {
	ts := startServer(t, "development")
	f := &adminFixture{ts: ts, tokens: map[operator.Role]string{}, ids: map[operator.Role]string{}}
	for _, r := range operator.Roles {
		email := string(r) + "@example.test"
		var o createdOperator
		ts.mustCLI(&o, "operators", "create", "--email", email, "--role", string(r), "--password-file", passwordFile(t, "a long password for "+string(r)))
		var tok struct{ Token string }
		ts.mustCLI(&tok, "operators", "token", "--email", email)
		f.tokens[r], f.ids[r] = tok.Token, o.ID
		ts.addSecret(tok.Token)
	}
	// An expired and a revoked admin token, made on the store directly.
	c := &common{dataDir: ts.DataDir, env: ts.Env, db: ts.vars["NOVAMED_DB"]}
	store, _, err := c.openStore(context.Background(), ts.getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	admin, err := store.GetOperatorByEmail(context.Background(), "admin@example.test")
	if err != nil {
		t.Fatal(err)
	}
	past := &operator.Service{Store: store, Env: novamed.Development, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	if f.expired, _, err = past.IssueToken(context.Background(), admin, time.Hour); err != nil {
		t.Fatal(err)
	}
	svc := &operator.Service{Store: store, Env: novamed.Development}
	raw, tok, err := svc.IssueToken(context.Background(), admin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RevokeOperatorToken(context.Background(), tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.revoked = raw
	return f
}

// concrete fills a route pattern's parameters with a fresh UUID.
func concrete(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	for strings.Contains(path, "{") {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:i] + uuid.NewString() + path[j+1:]
	}
	return method, path
}

// TestAdminRoleMatrix is generated from the admin route table: every route
// × every role answers 403 FORBIDDEN exactly when the role lacks the
// route's capability (otherwise neither 401 nor 403, nor a 500), and every
// route answers 401 UNAUTHORIZED without a token, with a malformed, an
// expired or a revoked one.
func TestAdminRoleMatrix(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	routes := httpapi.AdminRoutes()
	if len(routes) < 20 {
		t.Fatalf("only %d admin routes", len(routes))
	}
	cells := 0
	for _, rt := range routes {
		method, path := concrete(rt.Pattern)
		var body any
		if method != http.MethodGet {
			body = map[string]any{}
		}
		for _, role := range operator.Roles {
			r := adminReq(t, f.ts, method, path, f.tokens[role], body)
			cells++
			if role.Can(rt.Capability) {
				if r.Status == 401 || r.Status == 403 || r.Status >= 500 {
					t.Errorf("%s as %s (may %s): %d %s", rt.Pattern, role, rt.Capability, r.Status, r.Body)
				}
			} else if r.Status != 403 || r.Env.Error.Code != "FORBIDDEN" {
				t.Errorf("%s as %s (may not %s): %d %s", rt.Pattern, role, rt.Capability, r.Status, r.Body)
			}
		}
		for name, tok := range map[string]string{"none": "", "malformed": "op_nonsense", "expired": f.expired, "revoked": f.revoked,
			"api key": "dev_" + strings.Repeat("a", 49)} {
			r := adminReq(t, f.ts, method, path, tok, body)
			cells++
			if r.Status != 401 || r.Env.Error.Code != "UNAUTHORIZED" {
				t.Errorf("%s with %s token: %d %s", rt.Pattern, name, r.Status, r.Body)
			}
		}
	}
	t.Logf("role matrix: %d routes × (%d roles + 5 token states) = %d requests", len(routes), len(operator.Roles), cells)
}

// TestAdminIssuesAKeyAndEverythingIsAudited: a bootstrapped admin issues a
// development key through the admin API; the key works on the partner
// API; a viewer may list it but not revoke it; a support operator revokes
// it; the key is refused; audit export --actor operator: shows each admin
// action with its operator, the denied one as 403; audit verify passes.
func TestAdminIssuesAKeyAndEverythingIsAudited(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts := f.ts
	clinic := ts.newClinic("Admin API clinic")
	r := adminReq(t, ts, "POST", "/api/admin/keys", f.tokens[operator.Admin], map[string]any{"name": "via admin", "clinics": []string{clinic}})
	if r.Status != 200 {
		t.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	var k httpapi.AdminKey
	r.data(t, &k)
	ts.addSecret(k.Key)
	if !strings.HasPrefix(k.Key, "dev_") || k.Environment != "development" {
		t.Fatalf("key %+v", k)
	}
	if got := ts.req("GET", "/api/external/me", k.Key, nil); got.Status != 200 {
		t.Fatalf("the issued key on the partner API: %d %s", got.Status, got.Body)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/keys?clinic="+clinic, f.tokens[operator.Viewer], nil); r.Status != 200 || !strings.Contains(string(r.Body), k.ID) || strings.Contains(string(r.Body), k.Key) {
		t.Fatalf("viewer lists keys: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/keys/"+k.ID+"/revoke", f.tokens[operator.Viewer], nil); r.Status != 403 {
		t.Fatalf("viewer revokes: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/keys/"+k.ID+"/revoke", f.tokens[operator.Support], nil); r.Status != 200 {
		t.Fatalf("support revokes: %d %s", r.Status, r.Body)
	}
	if got := ts.req("GET", "/api/external/me", k.Key, nil); got.Status != 401 {
		t.Fatalf("the revoked key: %d", got.Status)
	}

	recs := exportActor(t, ts, "operator:")
	type seen struct {
		actor, action string
		status        int
	}
	var got []seen
	for _, rec := range recs {
		got = append(got, seen{rec.Actor, rec.Action, rec.Status})
		if rec.ClientAddr == "" || rec.RequestID == "" {
			t.Errorf("admin record without client address or request id: %+v", rec)
		}
	}
	want := []seen{
		{"operator:" + f.ids[operator.Admin], "api_key.issue", 200},
		{"operator:" + f.ids[operator.Viewer], "api_key.list", 200},
		{"operator:" + f.ids[operator.Viewer], "api_key.revoke", 403},
		{"operator:" + f.ids[operator.Support], "api_key.revoke", 200},
	}
	if len(got) != len(want) {
		t.Fatalf("operator records:\n%v\nwant\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %v, want %v", i, got[i], want[i])
		}
	}
	if recs[0].ResourceIDs[0] != k.ID || recs[3].ResourceIDs[0] != k.ID {
		t.Errorf("records do not name the key: %+v", recs)
	}
	if out, err := verifyJSON(t, ts); err != nil || out["ok"] != true {
		t.Fatalf("audit verify: %v %v", out, err)
	}

	// The CLI as a client: keys create --server prints what direct mode
	// prints, the issue is audited as the operator; a command without a
	// client mode refuses --server rather than acting on a local database.
	ts.vars["NOVAMED_OPERATOR_TOKEN"] = f.tokens[operator.Support]
	var viaCLI issuedKey
	ts.mustCLI(&viaCLI, "keys", "create", "--clinic", clinic, "--name", "via --server", "--server", ts.URL)
	ts.addSecret(viaCLI.Key)
	if !strings.HasPrefix(viaCLI.Key, "dev_") || len(viaCLI.Clinics) != 1 {
		t.Fatalf("keys create --server: %+v", viaCLI)
	}
	if got := ts.req("GET", "/api/external/me", viaCLI.Key, nil); got.Status != 200 {
		t.Fatalf("the key issued with --server: %d", got.Status)
	}
	last := exportActor(t, ts, "operator:"+f.ids[operator.Support])
	if n := len(last); n == 0 || last[n-1].Action != "api_key.issue" || last[n-1].ResourceIDs[0] != viaCLI.ID {
		t.Errorf("keys create --server is not audited as the operator: %+v", last)
	}
	if err := ts.cli(nil, "backup", "--to", filepath.Join(t.TempDir(), "copy.db"), "--server", ts.URL); err == nil || !strings.Contains(err.Error(), "runs only on the database host") {
		t.Errorf("backup --server: %v", err)
	}
	ts.vars["NOVAMED_OPERATOR_TOKEN"] = f.tokens[operator.Viewer]
	if err := ts.cli(nil, "keys", "create", "--clinic", clinic, "--server", ts.URL); err == nil || !strings.Contains(errorLine(err), "does not allow") {
		t.Errorf("keys create --server as a viewer: %v", err)
	}
}
