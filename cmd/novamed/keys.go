package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// keyJSON is the stable --json shape of a key; Key is set only when issued.
type keyJSON struct {
	ID          string              `json:"id"`
	Key         string              `json:"key,omitempty"`
	Name        string              `json:"name"`
	Prefix      string              `json:"prefix"`
	Environment novamed.Environment `json:"environment"`
	Clinics     []string            `json:"clinics"`
	RateLimit   int                 `json:"rate_limit"`
	CreatedAt   time.Time           `json:"created_at"`
	ExpiresAt   *time.Time          `json:"expires_at"`
	RevokedAt   *time.Time          `json:"revoked_at"`
	ReplacedBy  string              `json:"replaced_by,omitempty"`
	LastUsedAt  *time.Time          `json:"last_used_at"`
	PartnerID   string              `json:"partner_id,omitempty"`
	// Flags are what an operator must see beside the key: its partner
	// suspended, its BAA missing or expired (production).
	Flags []string `json:"flags,omitempty"`
}

func toKeyJSON(k *novamed.APIKey, raw string) keyJSON {
	return keyJSON{ID: k.ID, Key: raw, Name: k.Name, Prefix: k.Prefix, Environment: k.Environment, Clinics: k.Clinics,
		RateLimit: k.EffectiveRateLimit(), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		ReplacedBy: k.ReplacedBy, LastUsedAt: k.LastUsedAt, PartnerID: k.PartnerID, Flags: keyFlags(k, time.Now())}
}

// keyFlags are the partner warnings of a key on operator listings.
func keyFlags(k *novamed.APIKey, now time.Time) []string { return onboarding.KeyFlags(k, now) }

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

func keysCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
	if c.server != "" {
		client, err := c.adminClient(getenv)
		if err != nil {
			return err
		}
		var k keyJSON
		if err := client.do(ctx, "POST", "/api/admin/keys", map[string]any{"name": *name, "clinics": clinics, "expires_at": expires,
			"rate_limit": *rateLimit}, &k); err != nil {
			return err
		}
		return emit(stdout, c.json, k, fmt.Sprintf("key id:  %s\nkey:     %s\n(shown once: store it now; NovaMed keeps only its hash)\n", k.ID, k.Key))
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, cl := range clinics {
		if err := mustExist(ctx, store, "--clinic", "clinic", strings.ToLower(cl), ""); err != nil {
			return err
		}
	}
	k, raw, err := onboarding.IssueKey(ctx, store, deps(env), localActor(getenv, "novamed keys create"),
		onboarding.KeyInput{Name: *name, Clinics: clinics, ExpiresAt: expires, RateLimit: *rateLimit})
	if err != nil {
		return err
	}
	return emit(stdout, c.json, toKeyJSON(k, raw),
		fmt.Sprintf("key id:  %s\nkey:     %s\n(shown once: store it now; NovaMed keeps only its hash)\n", k.ID, raw))
}

func keysList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	clinic := fs.String("clinic", "", "only keys granted this clinic")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if *clinic != "" {
		if err := mustExist(ctx, store, "--clinic", "clinic", strings.ToLower(*clinic), ""); err != nil {
			return err
		}
	}
	keys, err := store.ListAPIKeys(ctx, strings.ToLower(*clinic))
	if err != nil {
		return err
	}
	out := make([]keyJSON, len(keys))
	var b strings.Builder
	for i, k := range keys {
		out[i] = toKeyJSON(k, "")
		state := "active"
		switch {
		case k.RevokedAt != nil:
			state = "revoked"
		case !k.Usable(time.Now()):
			state = "expired"
		case k.ReplacedBy != "":
			state = "rolled (grace until " + fmtTime(k.ExpiresAt) + ")"
		}
		if f := keyFlags(k, time.Now()); len(f) > 0 {
			state += " [" + strings.Join(f, "; ") + "]"
		}
		fmt.Fprintf(&b, "%s  %s…  %-11s  %s  %s\n", k.ID, k.Prefix, k.Environment, state, k.Name)
	}
	return emit(stdout, c.json, map[string]any{"keys": out}, b.String())
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

func keysRevoke(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, id, err := oneKeyCommand("keys revoke", args, getenv, nil)
	if err != nil {
		return err
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	k, err := store.RevokeAPIKey(ctx, id, time.Now().UTC())
	if err != nil {
		return err
	}
	c.announceKeyChange(ctx, io.Discard)
	return emit(stdout, c.json, toKeyJSON(k, ""), fmt.Sprintf("revoked key %s\n", k.ID))
}

func keysRoll(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	old, err := store.GetAPIKey(ctx, id)
	if err != nil {
		return err
	}
	next, raw, err := onboarding.NewKey(old.Environment, old.Name, old.Clinics, nil, old.RateLimit, time.Now())
	if err != nil {
		return err
	}
	old, err = store.RollAPIKey(ctx, id, next, time.Now().UTC().Add(g))
	if err != nil {
		return err
	}
	c.announceKeyChange(ctx, io.Discard)
	out := map[string]any{"id": next.ID, "key": raw, "environment": next.Environment, "clinics": next.Clinics,
		"expires_at": next.ExpiresAt, "replaces": old.ID, "old_key_expires_at": old.ExpiresAt}
	return emit(stdout, c.json, out, fmt.Sprintf("new key id:  %s\nnew key:     %s\nold key %s works until %s\n",
		next.ID, raw, old.ID, fmtTime(old.ExpiresAt)))
}

func keysUpdate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	k, err := store.UpdateAPIKeyRateLimit(ctx, id, *limit)
	if err != nil {
		return err
	}
	c.announceKeyChange(ctx, io.Discard)
	return emit(stdout, c.json, toKeyJSON(k, ""), fmt.Sprintf("key %s: %d requests per minute\n", k.ID, k.EffectiveRateLimit()))
}
