package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// localActor is the audit actor of a command run in direct database mode:
// local:<os user>.
func localActor(getenv func(string) string, via string) onboarding.Actor {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = getenv("USER")
	}
	if name == "" {
		name = "unknown"
	}
	return onboarding.Actor{ID: "local:" + name, RequestID: "cli_" + uuid.NewString(), Via: via}
}

// deps are the onboarding rules' view of this deployment.
func deps(env novamed.Environment) onboarding.Deps {
	return onboarding.Deps{Env: env, Now: time.Now}
}

// partnerJSON is the --json shape of a partner (the admin API's too).
type partnerJSON = onboarding.PartnerView

func toPartnerJSON(p *novamed.Partner, env novamed.Environment, now time.Time) partnerJSON {
	return onboarding.ViewPartner(p, env, now)
}

// partnerFlags are the warnings shown beside a partner on every listing.
func partnerFlags(p *novamed.Partner, env novamed.Environment, now time.Time) []string {
	return onboarding.PartnerFlags(p, env, now)
}

func partnerLine(p *novamed.Partner, env novamed.Environment, now time.Time) string {
	line := fmt.Sprintf("%s  %-10s  BAA %-9s  %s", p.ID, p.Status, p.BAAState(now), p.Name)
	if f := partnerFlags(p, env, now); len(f) > 0 {
		line += "  [" + strings.Join(f, "; ") + "]"
	}
	return line + "\n"
}

func partnersCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("partners create", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	name := fs.String("name", "", "the partner's name (organisation)")
	var contacts stringList
	fs.Var(&contacts, "contact", `a contact, e.g. "Dana Ops <ops@partner.example>" (repeatable)`)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return fmt.Errorf("--name is required (1 to 200 characters)")
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := onboarding.CreatePartner(ctx, store, deps(env), localActor(getenv, "novamed partners create"),
		onboarding.CreatePartnerInput{Name: *name, Contacts: contacts})
	if err != nil {
		return err
	}
	return emit(stdout, c.json, toPartnerJSON(p, env, time.Now()), fmt.Sprintf("created partner %s (%s), status %s\n", p.ID, p.Name, p.Status))
}

func partnersBAA(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var signedOn, signer, document, expiresOn *string
	c, id, err := oneArgCommand("partners baa", "PARTNER_ID", args, getenv, func(fs *flag.FlagSet) {
		signedOn = fs.String("signed-on", "", "the date the BAA was signed (YYYY-MM-DD)")
		signer = fs.String("signer", "", "who signed it for the partner")
		document = fs.String("document", "", "where the signed document is, or its hash")
		expiresOn = fs.String("expires-on", "", "the date it expires (YYYY-MM-DD; default: no expiry)")
	})
	if err != nil {
		return err
	}
	if *signedOn == "" || *signer == "" {
		return fmt.Errorf("--signed-on and --signer are required")
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := onboarding.RecordBAA(ctx, store, deps(env), localActor(getenv, "novamed partners baa"), id,
		onboarding.BAAInput{SignedOn: *signedOn, Signer: *signer, Document: *document, ExpiresOn: *expiresOn})
	if err != nil {
		return err
	}
	// The BAA on record decides whether production keys are accepted
	// (an expired one refuses them): replicas drop their cached keys.
	c.announceKeyChange(ctx, io.Discard)
	expiry := "no expiry"
	if p.BAA.ExpiresOn != "" {
		expiry = "expires on " + p.BAA.ExpiresOn
	}
	return emit(stdout, c.json, toPartnerJSON(p, env, time.Now()),
		fmt.Sprintf("partner %s: BAA signed on %s by %s recorded (%s); BAA on record: signed %s\n", p.ID, *signedOn, *signer, expiry, p.BAA.SignedOn))
}

// partnersStatus returns the command of one status action.
func partnersStatus(action string) func(context.Context, []string, func(string) string, io.Writer) error {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		c, id, err := oneArgCommand("partners "+action, "PARTNER_ID", args, getenv, nil)
		if err != nil {
			return err
		}
		store, env, err := c.openStore(ctx, getenv)
		if err != nil {
			return err
		}
		defer store.Close()
		p, err := onboarding.SetStatus(ctx, store, deps(env), localActor(getenv, "novamed partners "+action), id, action)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("partner %s (%s) is %s\n", p.ID, p.Name, p.Status)
		if action != "approve" {
			// Every replica drops its cached keys: the partner's keys are
			// refused (or accepted again) at once.
			c.announceKeyChange(ctx, io.Discard)
			if action == "suspend" {
				text += "its keys are refused and its webhook deliveries held (a running server applies this within 2s)\n"
			} else {
				text += "its keys work again and its held webhook deliveries resume\n"
			}
		}
		return emit(stdout, c.json, toPartnerJSON(p, env, time.Now()), text)
	}
}

func partnersList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("partners list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	partners, err := store.ListPartners(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]partnerJSON, len(partners))
	var b strings.Builder
	for i, p := range partners {
		out[i] = toPartnerJSON(p, env, now)
		b.WriteString(partnerLine(p, env, now))
	}
	return emit(stdout, c.json, map[string]any{"partners": out}, b.String())
}

func partnersShow(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, id, err := oneArgCommand("partners show", "PARTNER_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	if !novamed.IsUUID(id) {
		return fmt.Errorf("partner id %q is not a UUID", id)
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := store.GetPartner(ctx, strings.ToLower(id))
	if err != nil {
		return err
	}
	clinics, err := store.ListPartnerClinics(ctx, p.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	out := toPartnerJSON(p, env, now)
	out.Clinics = []string{}
	var b strings.Builder
	b.WriteString(partnerLine(p, env, now))
	for _, ct := range p.Contacts {
		fmt.Fprintf(&b, "  contact: %s\n", ct)
	}
	if p.BAA != nil {
		fmt.Fprintf(&b, "  BAA: signed %s by %s, expires %s, document %q (recorded by %s at %s)\n", p.BAA.SignedOn, p.BAA.Signer,
			cmp.Or(p.BAA.ExpiresOn, "never"), p.BAA.Document, p.BAA.RecordedBy, p.BAA.RecordedAt.Format(time.RFC3339))
	}
	for _, cl := range clinics {
		out.Clinics = append(out.Clinics, cl.ID)
		fmt.Fprintf(&b, "  clinic: %s  %s\n", cl.ID, cl.Name)
	}
	return emit(stdout, c.json, out, b.String())
}

// partnerStates reads every partner once, for listings that flag keys and
// clinics by their partner.
func partnerStates(ctx context.Context, store *sqlstore.Store) (map[string]*novamed.Partner, error) {
	list, err := store.ListPartners(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*novamed.Partner, len(list))
	for _, p := range list {
		out[p.ID] = p
	}
	return out, nil
}
