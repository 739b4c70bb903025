package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every command answers --help (and help CMD) with exit 0 and lists its
// flags with their defaults and environment variables; nothing runs.
func TestHelpOfEveryCommandListsItsFlags(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "never-created")
	getenv := func(k string) string {
		if k == "NOVAMED_DATA_DIR" {
			return dir
		}
		return ""
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		var out, errb bytes.Buffer
		if err := run(context.Background(), append(words, "--help"), getenv, &out, &errb); err != nil {
			t.Errorf("%s --help: %v", c.name, err)
			continue
		}
		help := out.String()
		if !strings.Contains(help, "usage: novamed "+c.name) {
			t.Errorf("%s --help does not start with its usage:\n%s", c.name, help)
		}
		var viaHelp bytes.Buffer
		if err := run(context.Background(), append([]string{"help"}, words...), getenv, &viaHelp, &errb); err != nil || viaHelp.String() != help {
			t.Errorf("help %s differs from %s --help (%v)", c.name, c.name, err)
		}
		if c.name == "version" || c.name == "completion" {
			continue
		}
		for _, want := range []string{"--data-dir string", "env NOVAMED_DATA_DIR)", "--db string", "env NOVAMED_DB", "--env string", "--json"} {
			if !strings.Contains(help, want) {
				t.Errorf("%s --help lacks %q:\n%s", c.name, want, help)
			}
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("--help created the data folder (%v)", err)
	}
}

// serve --help shows every serve flag, each with its NOVAMED_* variable,
// and each variable is honoured.
func TestServeHelpNamesEveryFlagsVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "-h"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	help := out.String()
	for _, name := range []string{"addr", "key-cache-ttl", "sandbox-step", "webhook-poll", "read-header-timeout", "idle-timeout",
		"webhook-lease", "anomaly-window", "anomaly-rate-factor", "anomaly-rate-minimum", "anomaly-prefix-failures", "checkpoint-interval", "trusted-proxy", "audit-durability", "audit-flush-window"} {
		if !strings.Contains(help, "--"+name+" ") || !strings.Contains(help, "env "+serveEnv(name)+")") {
			t.Errorf("serve --help lacks --%s or %s:\n%s", name, serveEnv(name), help)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	lease := fs.Duration("webhook-lease", 0, "")
	addr := fs.String("addr", "a", "")
	env := map[string]string{"NOVAMED_WEBHOOK_LEASE": "45s", "NOVAMED_ADDR": "b"}
	if err := applyServeEnv(fs, func(k string) string { return env[k] }, map[string]bool{"addr": true}); err != nil {
		t.Fatal(err)
	}
	if lease.String() != "45s" || *addr != "a" {
		t.Errorf("env applied: lease %s (want 45s), addr %q (want the command line's a)", lease, *addr)
	}
	env["NOVAMED_WEBHOOK_LEASE"] = "soon"
	if err := applyServeEnv(fs, func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), "NOVAMED_WEBHOOK_LEASE") {
		t.Errorf("a bad NOVAMED_WEBHOOK_LEASE: %v, want an error naming it", err)
	}
}

// The bare program, help, a group alone and --version exit 0 on stdout.
func TestHelpGroupsAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"keys"}, {"audit"}, {"keys", "--help"}, {"--version"}, {"version", "--json"}, {"completion", "bash"}, {"completion", "zsh"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errb); err != nil || out.Len() == 0 {
			t.Errorf("%v: err %v, stdout %d bytes", args, err, out.Len())
		}
		if args[0] == "keys" && !strings.Contains(out.String(), "keys revoke KEY_ID") {
			t.Errorf("%v does not list the group's commands:\n%s", args, out.String())
		}
		if args[0] == "version" {
			var v map[string]string
			if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["version"] == "" || v["commit"] == "" {
				t.Errorf("version --json = %s (%v)", out.String(), err)
			}
		}
		if args[0] == "completion" && !strings.Contains(out.String(), "keys) COMPREPLY") {
			t.Errorf("completion %s lacks the keys group:\n%s", args[1], out.String())
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"keys", "nope"}, func(string) string { return "" }, &out, &errb); err == nil {
		t.Error("keys nope succeeded")
	}
}

// --since and --until take an RFC 3339 time, a date or a duration ago.
func TestParseWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-01T08:30:00+02:00": time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC),
		"2026-11-01":                time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"1h":                        now.Add(-time.Hour),
		"7d":                        now.AddDate(0, 0, -7),
	} {
		if got, err := parseWhen(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-1h", "2026-13-01"} {
		if _, err := parseWhen(bad, now); err == nil {
			t.Errorf("parseWhen(%q) accepted", bad)
		}
	}
}

// Human output never shows Go's formatting of maps and slices.
func TestHumanOutputHasNoGoFormatting(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	for _, args := range [][]string{{"crypto", "status"}, {"keys", "list"}, {"clinics", "list"}, {"security", "events", "--since", "1h"},
		{"carriers", "list"}, {"formulary", "list", "--clinic", demoClinic}, {"events", "list", "--clinic", demoClinic}} {
		var out bytes.Buffer
		if err := run(context.Background(), append(args, "--data-dir", ts.DataDir), ts.getenv, &out, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if s := out.String(); strings.Contains(s, "map[") || strings.Contains(s, "[]") || strings.Contains(s, "<nil>") {
			t.Errorf("%v prints Go formatting:\n%s", args, s)
		}
	}
}

// /healthz names the same build as `novamed version`.
func TestHealthzNamesTheBuild(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	r := ts.req("GET", "/healthz", "", nil)
	var got map[string]string
	if err := json.Unmarshal(r.Body, &got); err != nil || r.Status != 200 {
		t.Fatalf("/healthz: %d %s", r.Status, r.Body)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version", "--json"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(out.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	if got["status"] != "ok" || got["version"] == "" || got["version"] != want["version"] || got["commit"] != want["commit"] || got["commit_time"] != want["commit_time"] {
		t.Errorf("/healthz %v, version --json %v", got, want)
	}
}
