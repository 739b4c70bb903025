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

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
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

// partnerJSON is the --json shape of a partner (the admin API's too).
type partnerJSON = onboarding.PartnerView

// partnerLine is a partner on one line, with its flags.
func partnerLine(p partnerJSON) string {
	line := fmt.Sprintf("%s  %-10s  BAA %-9s  %s", p.ID, p.Status, p.BAAState, p.Name)
	if len(p.Flags) > 0 {
		line += "  [" + strings.Join(p.Flags, "; ") + "]"
	}
	return line + "\n"
}

func partnersCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var p partnerJSON
		err := api.do(ctx, "POST", "/api/admin/partners", httpapi.AdminPartnerRequest{Name: *name, Contacts: contacts}, &p)
		if err != nil {
			return nil, "", err
		}
		return p, fmt.Sprintf("created partner %s (%s), status %s\n", p.ID, p.Name, p.Status), nil
	})
}

func partnersBAA(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	if !novamed.IsUUID(id) {
		return fmt.Errorf("partner id %q is not a UUID", id)
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var p partnerJSON
		// The server announces the change: the BAA on record decides
		// whether production keys are accepted.
		err := api.do(ctx, "POST", "/api/admin/partners/"+pathID(id)+"/baas",
			httpapi.AdminBAARequest{SignedOn: *signedOn, Signer: *signer, Document: *document, ExpiresOn: *expiresOn}, &p)
		if err != nil {
			return nil, "", err
		}
		expiry := "no expiry"
		if p.BAA.ExpiresOn != "" {
			expiry = "expires on " + p.BAA.ExpiresOn
		}
		return p, fmt.Sprintf("partner %s: BAA signed on %s by %s recorded (%s); BAA on record: signed %s\n", p.ID, *signedOn, *signer, expiry, p.BAA.SignedOn), nil
	})
}

// partnersStatus returns the command of one status action.
func partnersStatus(action string) func(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		c, id, err := oneArgCommand("partners "+action, "PARTNER_ID", args, getenv, nil)
		if err != nil {
			return err
		}
		if !novamed.IsUUID(id) {
			return fmt.Errorf("partner id %q is not a UUID", id)
		}
		return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
			var p partnerJSON
			// A suspension or reinstatement makes every replica drop its
			// cached keys (the server announces it).
			if err := api.do(ctx, "POST", "/api/admin/partners/"+pathID(id)+"/"+action, nil, &p); err != nil {
				return nil, "", err
			}
			text := fmt.Sprintf("partner %s (%s) is %s\n", p.ID, p.Name, p.Status)
			switch action {
			case "suspend":
				text += "its keys are refused and its webhook deliveries held (a running server applies this within 2s)\n"
			case "reinstate":
				text += "its keys work again and its held webhook deliveries resume\n"
			}
			return p, text, nil
		})
	}
}

// listPartners reads every partner.
func listPartners(ctx context.Context, api *adminClient) ([]partnerJSON, error) {
	var out struct {
		Partners []partnerJSON `json:"partners"`
	}
	err := api.do(ctx, "GET", "/api/admin/partners", nil, &out)
	return out.Partners, err
}

func partnersList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("partners list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		partners, err := listPartners(ctx, api)
		if err != nil {
			return nil, "", err
		}
		var b strings.Builder
		for _, p := range partners {
			b.WriteString(partnerLine(p))
		}
		return map[string]any{"partners": partners}, b.String(), nil
	})
}

func partnersShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, id, err := oneArgCommand("partners show", "PARTNER_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	if !novamed.IsUUID(id) {
		return fmt.Errorf("partner id %q is not a UUID", id)
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var p partnerJSON
		if err := api.do(ctx, "GET", "/api/admin/partners/"+pathID(id), nil, &p); err != nil {
			return nil, "", err
		}
		if p.Clinics == nil {
			p.Clinics = []string{}
		}
		var clinics struct {
			Clinics []*novamed.Clinic `json:"clinics"`
		}
		if err := api.do(ctx, "GET", "/api/admin/clinics?partner="+pathID(id), nil, &clinics); err != nil {
			return nil, "", err
		}
		var b strings.Builder
		b.WriteString(partnerLine(p))
		for _, ct := range p.Contacts {
			fmt.Fprintf(&b, "  contact: %s\n", ct)
		}
		if p.BAA != nil {
			fmt.Fprintf(&b, "  BAA: signed %s by %s, expires %s, document %q (recorded by %s at %s)\n", p.BAA.SignedOn, p.BAA.Signer,
				cmp.Or(p.BAA.ExpiresOn, "never"), p.BAA.Document, p.BAA.RecordedBy, p.BAA.RecordedAt.Format(time.RFC3339))
		}
		for _, cl := range clinics.Clinics {
			fmt.Fprintf(&b, "  clinic: %s  %s\n", cl.ID, cl.Name)
		}
		return p, b.String(), nil
	})
}
