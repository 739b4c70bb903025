package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
)

// keyJSON is the stable --json shape of a key (the admin API's); Key is
// set only when issued.
type keyJSON = httpapi.AdminKey

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseDuration accepts Go durations plus a day suffix (30d).
func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("invalid duration %q", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q", v)
	}
	return d, nil
}

// adminCommand runs an operator command against the admin API (--server's,
// or in direct mode this process's over the local database): fn makes the
// calls and returns the --json data and the text for people.
func adminCommand(ctx context.Context, c *common, getenv func(string) string, stdout, stderr io.Writer, fn func(api *adminClient) (any, string, error), setups ...localSetup) error {
	api, err := c.adminAPI(ctx, getenv, stderr, setups...)
	if err != nil {
		return err
	}
	defer api.close()
	data, text, err := fn(api)
	if err != nil {
		return err
	}
	return emit(stdout, c.json, data, text)
}

// unknownID turns the server's "not found" for an id a flag gave into an
// error naming the flag and the id: a typo is an error, not an empty list.
func unknownID(err error, flagName, kind string, ids ...string) error {
	var e *novamed.Error
	if !errors.As(err, &e) || !strings.HasSuffix(string(e.Code), "NOT_FOUND") {
		return err
	}
	if len(ids) == 1 {
		return fmt.Errorf("%s %s: no such %s", flagName, ids[0], kind)
	}
	return fmt.Errorf("%s: no such %s among %s", flagName, kind, strings.Join(ids, ", "))
}

// pathID is an id as one segment of an admin API path.
func pathID(id string) string { return url.PathEscape(strings.ToLower(id)) }

const keyShownOnce = "(shown once: store it now; NovaMed keeps only its hash)\n"

func keysCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	var clinics stringList
	fs.Var(&clinics, "clinic", "clinic id the key may act for (repeatable)")
	name := fs.String("name", "Partner key", "a name for people")
	expiresIn := fs.String("expires-in", "", "lifetime, e.g. 720h or 90d (default: no expiry)")
	rateLimit := fs.Int("rate-limit", 0, "requests per minute (default: the environment's)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(clinics) == 0 {
		return fmt.Errorf("--clinic is required")
	}
	for _, cl := range clinics {
		if !novamed.IsUUID(cl) {
			return fmt.Errorf("--clinic %q is not a UUID", cl)
		}
	}
	if *rateLimit < 0 || *rateLimit > 1_000_000 {
		return fmt.Errorf("--rate-limit must be from 0 to 1000000")
	}
	var expires *time.Time
	if *expiresIn != "" {
		d, err := parseDuration(*expiresIn)
		if err != nil {
			return fmt.Errorf("--expires-in: %w", err)
		}
		t := time.Now().UTC().Add(d)
		expires = &t
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var k keyJSON
		err := api.do(ctx, "POST", "/api/admin/keys", httpapi.AdminKeyRequest{Name: *name, Clinics: clinics, ExpiresAt: expires, RateLimit: *rateLimit}, &k)
		return k, fmt.Sprintf("key id:  %s\nkey:     %s\n"+keyShownOnce, k.ID, k.Key), unknownID(err, "--clinic", "clinic", clinics...)
	})
}

// keyState is a key's state on listings: active, revoked, expired or
// rolled, with its partner's flags.
func keyState(k keyJSON, now time.Time) string {
	state := "active"
	switch {
	case k.RevokedAt != nil && !now.Before(*k.RevokedAt):
		state = "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		state = "expired"
	case k.ReplacedBy != "":
		state = "rolled (grace until " + fmtTime(k.ExpiresAt) + ")"
	}
	if len(k.Flags) > 0 {
		state += " [" + strings.Join(k.Flags, "; ") + "]"
	}
	return state
}

// listKeys reads the keys (of one clinic, or all).
func listKeys(ctx context.Context, api *adminClient, clinic string) ([]keyJSON, error) {
	var out struct {
		Keys []keyJSON `json:"keys"`
	}
	q := ""
	if clinic != "" {
		q = "?clinic=" + url.QueryEscape(strings.ToLower(clinic))
	}
	err := api.do(ctx, "GET", "/api/admin/keys"+q, nil, &out)
	return out.Keys, unknownID(err, "--clinic", "clinic", clinic)
}

func keysList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	clinic := fs.String("clinic", "", "only keys granted this clinic")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *clinic != "" && !novamed.IsUUID(*clinic) {
		return fmt.Errorf("--clinic %q is not a UUID", *clinic)
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		keys, err := listKeys(ctx, api, *clinic)
		if err != nil {
			return nil, "", err
		}
		now := time.Now()
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s  %s…  %-11s  %s  %s\n", k.ID, k.Prefix, k.Environment, keyState(k, now), k.Name)
		}
		return map[string]any{"keys": keys}, b.String(), nil
	})
}

// oneKeyCommand parses a command that takes exactly one KEY_ID.
func oneKeyCommand(name string, args []string, getenv func(string) string, extra func(fs *flag.FlagSet)) (*common, string, error) {
	return oneArgCommand(name, "KEY_ID", args, getenv, extra)
}

// oneArgCommand parses a command that takes exactly one positional argument.
func oneArgCommand(name, what string, args []string, getenv func(string) string, extra func(fs *flag.FlagSet)) (*common, string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &common{}
	c.register(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(pos) != 1 {
		return nil, "", fmt.Errorf("%s takes exactly one %s", name, what)
	}
	return c, pos[0], nil
}

func keysRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, id, err := oneKeyCommand("keys revoke", args, getenv, nil)
	if err != nil {
		return err
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var k keyJSON
		err := api.do(ctx, "POST", "/api/admin/keys/"+pathID(id)+"/revoke", nil, &k)
		return k, fmt.Sprintf("revoked key %s\n", k.ID), err
	})
}

// keysRoll issues a key's successor (through onboarding.IssueKey on the
// server side: the issuing rules apply to a roll).
func keysRoll(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var grace *string
	c, id, err := oneKeyCommand("keys roll", args, getenv, func(fs *flag.FlagSet) {
		grace = fs.String("grace", "24h", "how long the old key keeps working")
	})
	if err != nil {
		return err
	}
	g, err := parseDuration(*grace)
	if err != nil {
		return fmt.Errorf("--grace: %w", err)
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out httpapi.AdminKeyRoll
		err := api.do(ctx, "POST", "/api/admin/keys/"+pathID(id)+"/roll", map[string]string{"grace": g.String()}, &out)
		return out, fmt.Sprintf("new key id:  %s\nnew key:     %s\nold key %s works until %s\n",
			out.ID, out.Key, out.Replaces, fmtTime(out.OldKeyExpiresAt)), err
	})
}

func keysUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var limit *int
	c, id, err := oneKeyCommand("keys update", args, getenv, func(fs *flag.FlagSet) {
		limit = fs.Int("rate-limit", -1, "requests per minute (0: environment default)")
	})
	if err != nil {
		return err
	}
	if *limit < 0 || *limit > 1_000_000 {
		return fmt.Errorf("--rate-limit is required (0 to 1000000)")
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var k keyJSON
		err := api.do(ctx, "PATCH", "/api/admin/keys/"+pathID(id), map[string]int{"rate_limit": *limit}, &k)
		return k, fmt.Sprintf("key %s: %d requests per minute\n", k.ID, k.RateLimit), err
	})
}
