package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// errServerUnsupported refuses --server on a command that has no client
// mode yet, rather than acting on a local database the caller did not mean.
var errServerUnsupported = errors.New("this command does not run with --server yet: run it on the database host (direct mode)")

// adminClient calls the admin API of --server with the operator token of
// NOVAMED_OPERATOR_TOKEN (client mode of the operator CLI).
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func (c *common) adminClient(getenv func(string) string) (*adminClient, error) {
	token := getenv("NOVAMED_OPERATOR_TOKEN")
	if token == "" {
		return nil, errors.New("--server needs an operator token in NOVAMED_OPERATOR_TOKEN (novamed operators token --email E on the database host)")
	}
	if !strings.HasPrefix(c.server, "https://") && !strings.HasPrefix(c.server, "http://127.0.0.1") && !strings.HasPrefix(c.server, "http://[::1]") && !strings.HasPrefix(c.server, "http://localhost") {
		return nil, errors.New("--server must be an https:// URL (plain http only to loopback)")
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
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("User-Agent", "novamed-cli")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
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
