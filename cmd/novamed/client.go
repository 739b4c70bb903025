package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// Operator commands are written once, against the admin API (see
// docs/decisions.md, "The CLI as a client"): with --server they call a
// server's admin API with an operator token (client mode); without, they
// call the same admin handlers in this process over the local database
// as local:<os user> (direct database mode, for bootstrap and
// break-glass). Both modes share the flags, the request, the answer and
// the output; only adminClient's transport differs.

// errServerUnsupported refuses --server on a command that runs only on the
// database host, rather than acting on a local database the caller did
// not mean.
var errServerUnsupported = errors.New("this command runs only on the database host (direct database mode), not with --server: see `novamed help` and docs/decisions.md")

// adminClient calls the admin API: a server's (--server, with an operator
// token) or this process's (direct mode).
type adminClient struct {
	base  string
	token string
	http  *http.Client
	// local is set in direct mode: the store and in-process server to
	// close once the command is done.
	local func()
}

// close releases direct mode's database (a no-op in client mode).
func (a *adminClient) close() {
	if a.local != nil {
		a.local()
	}
}

// localSetup gives the in-process server of direct mode what a command
// needs beyond the database (the audit checkpoint key, the audit archive),
// as serve gives its own; cleanup runs once the command is done.
type localSetup func(ctx context.Context, store *sqlstore.Store, env novamed.Environment, cfg *httpapi.Config) (cleanup func(), err error)

// adminAPI opens the admin API the command runs against: --server's, or
// in direct mode the local database's (announced on stderr), set up by
// setups.
func (c *common) adminAPI(ctx context.Context, getenv func(string) string, stderr io.Writer, setups ...localSetup) (*adminClient, error) {
	if c.server != "" {
		return c.adminClient(getenv)
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return nil, err
	}
	actor := localActor(getenv, "")
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cfg := httpapi.Config{
		Env: env, Store: store, Limiter: ratelimit.NewMemory(nil), Logger: log,
		FingerprintKey: store.IdempotencyFingerprintKey(), Version: currentBuild(),
		Operators: operatorService(store, env), Admin: store,
		AnnounceKeyChange: func(ctx context.Context) { c.announceKeyChange(ctx, stderr) },
	}
	var cleanups []func()
	cleanup := func() {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
	}
	for _, setup := range setups {
		done, err := setup(ctx, store, env, &cfg)
		if err != nil {
			cleanup()
			store.Close()
			return nil, err
		}
		cleanups = append(cleanups, done)
	}
	aw := audit.NewWriter(store, log)
	cfg.Audit = aw
	api := httpapi.New(cfg)
	h := api.LocalAdmin(strings.TrimPrefix(actor.ID, "local:"))
	return &adminClient{base: "http://direct.invalid", http: &http.Client{Transport: handlerTransport{h}},
		local: func() { api.Close(); aw.Close(); cleanup(); store.Close() }}, nil
}

// explicitFlag is the first of names given on the command line (not from
// the environment), or "".
func explicitFlag(fs *flag.FlagSet, names ...string) string {
	set := ""
	fs.Visit(func(f *flag.Flag) {
		if set == "" && slices.Contains(names, f.Name) {
			set = f.Name
		}
	})
	return set
}

// directNotice is the line an operator command in direct database mode
// prints on stderr: who it acts as, and that staff use --server.
func directNotice(getenv func(string) string) string {
	return "novamed: direct database mode (bootstrap/break-glass), acting as " + localActor(getenv, "").ID + "; staff use --server"
}

// noticeKey holds, in an operator command's context, where openStore
// announces direct database mode (once per command).
type noticeKey struct{}

// directNoticeTo is where, and whether yet, direct mode was announced.
type directNoticeTo struct {
	w    io.Writer
	once sync.Once
}

// withDirectNotice makes openStore announce direct database mode on w:
// run sets it for every operator command (not for serve and the
// maintenance commands, which are direct by nature).
func withDirectNotice(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, noticeKey{}, &directNoticeTo{w: w})
}

// announceDirect prints the direct mode notice if ctx asks for it.
func announceDirect(ctx context.Context, getenv func(string) string) {
	if n, ok := ctx.Value(noticeKey{}).(*directNoticeTo); ok {
		n.once.Do(func() { fmt.Fprintln(n.w, directNotice(getenv)) })
	}
}

// handlerTransport answers a request with an in-process handler (direct
// mode: LocalAdmin).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &memResponse{header: http.Header{}}
	t.h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{StatusCode: w.status, Status: http.StatusText(w.status), Header: w.header,
		Body: io.NopCloser(&w.body), Request: req, ContentLength: int64(w.body.Len())}, nil
}

// memResponse is an http.ResponseWriter into memory.
type memResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header { return m.header }
func (m *memResponse) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}
func (m *memResponse) Write(b []byte) (int, error) {
	m.WriteHeader(http.StatusOK)
	return m.body.Write(b)
}

// operatorToken finds the operator token of client mode: the
// NOVAMED_OPERATOR_TOKEN variable, else --credentials FILE, else
// $XDG_CONFIG_HOME/novamed/credentials (~/.config/… without it). A
// credentials file holds the token on one line and must be private
// (mode 0600 or stricter): the token is never printed.
func (c *common) operatorToken(getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("NOVAMED_OPERATOR_TOKEN")); t != "" {
		return t, nil
	}
	file, explicit := c.credentials, c.credentials != ""
	if !explicit {
		dir := getenv("XDG_CONFIG_HOME")
		if dir == "" {
			if home := getenv("HOME"); home != "" {
				dir = filepath.Join(home, ".config")
			}
		}
		if dir == "" {
			return "", errNoToken
		}
		file = filepath.Join(dir, "novamed", "credentials")
	}
	st, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return "", errNoToken
	}
	if err != nil {
		return "", fmt.Errorf("--credentials: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("credentials file %s is readable by others (mode %04o): it holds an operator token; run chmod 600 %s", file, st.Mode().Perm(), file)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("credentials file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("credentials file %s must hold one operator token (op_…) on one line", file)
	}
	return token, nil
}

var errNoToken = errors.New("--server needs an operator token: set NOVAMED_OPERATOR_TOKEN, or put it in a 0600 credentials file (--credentials FILE, default $XDG_CONFIG_HOME/novamed/credentials); an admin issues one with `novamed operators token --email E` on the database host")

func (c *common) adminClient(getenv func(string) string) (*adminClient, error) {
	if !strings.HasPrefix(c.server, "https://") && !strings.HasPrefix(c.server, "http://127.0.0.1") && !strings.HasPrefix(c.server, "http://[::1]") && !strings.HasPrefix(c.server, "http://localhost") {
		return nil, errors.New("--server must be an https:// URL (plain http only to loopback)")
	}
	token, err := c.operatorToken(getenv)
	if err != nil {
		return nil, err
	}
	return &adminClient{base: strings.TrimRight(c.server, "/"), token: token, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// do sends one admin request and decodes the envelope's data into out; an
// error envelope becomes a *novamed.Error with its code and message.
func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("User-Agent", "novamed-cli")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		// The URL error names the URL, never the token (a header).
		return fmt.Errorf("--server: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&env); err != nil {
		return fmt.Errorf("--server answered %s without the JSON envelope", resp.Status)
	}
	if !env.Success {
		return &novamed.Error{Code: env.Error.Code, Message: env.Error.Message}
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}
