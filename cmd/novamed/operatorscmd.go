package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// auditDirect records an operator command run in direct database mode in
// the audit trail, as local:<os user>.
func auditDirect(ctx context.Context, store *sqlstore.Store, getenv func(string) string, command, action, resourceType string, ids []string, clinic string) error {
	a := localActor(getenv, "novamed "+command)
	rec := &novamed.AuditRecord{Time: time.Now().UTC(), RequestID: a.RequestID, Actor: a.ID,
		ClinicID: clinic, Action: action, ResourceType: resourceType, ResourceIDs: ids, UserAgent: a.Via, Status: 200}
	if err := store.AppendAudit(ctx, []*novamed.AuditRecord{rec}); err != nil {
		return fmt.Errorf("the action was done but its audit record could not be written: %w", err)
	}
	return nil
}

// operatorService is the operator identity over a store opened directly.
func operatorService(store *sqlstore.Store, env novamed.Environment) *operator.Service {
	return &operator.Service{Store: store, Env: env}
}

// operatorJSON is the --json shape of an operator (never a secret), the
// admin API's too.
type operatorJSON = httpapi.AdminOperator

func toOperatorJSON(o *operator.Operator) operatorJSON { return httpapi.ToAdminOperator(o) }

// readPasswordFile reads a password from a file (one line; the trailing
// newline is not part of it).
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if err := operator.CheckPassword(pw); err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	return pw, nil
}

func operatorsCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("operators create", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	email := fs.String("email", "", "the operator's email (their sign-in name)")
	name := fs.String("name", "", "the operator's name (default: the email)")
	role := fs.String("role", "", "viewer, support, pharmacy, security or admin")
	pwFile := fs.String("password-file", "", "file holding the initial password (default: print a one-time setup link)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	r, err := operator.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	pw := ""
	if *pwFile != "" {
		if pw, err = readPasswordFile(*pwFile); err != nil {
			return err
		}
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := operatorService(store, env)
	o, err := svc.Create(ctx, *email, *name, r, pw)
	if err != nil {
		return err
	}
	out := toOperatorJSON(o)
	var b strings.Builder
	fmt.Fprintf(&b, "operator %s: %s (%s)\n", o.ID, o.Email, o.Role)
	if pw == "" {
		path, exp, err := svc.NewSetupLink(ctx, o)
		if err != nil {
			return err
		}
		out.SetupLink, out.SetupLinkExpiresAt = path, &exp
		fmt.Fprintf(&b, "setup link: %s\n(shown once; works once until %s; send it to the operator yourself: no e-mail is sent)\n", path, exp.Format(time.RFC3339))
	}
	if env == novamed.Production && pw != "" {
		url, err := svc.EnrolTOTP(ctx, o)
		if err != nil {
			return err
		}
		out.TOTPURL, out.HasTOTP = url, true
		fmt.Fprintf(&b, "TOTP (required on production; import into an authenticator app, shown once):\n%s\n", url)
	}
	if err := auditDirect(ctx, store, getenv, "operators create", "operator.create", "operator", []string{o.ID}, ""); err != nil {
		return err
	}
	return emit(stdout, c.json, out, b.String())
}

func operatorsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("operators list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		ops, err := listOperators(ctx, api)
		if err != nil {
			return nil, "", err
		}
		var b strings.Builder
		for _, o := range ops {
			totp := "no TOTP"
			if o.HasTOTP {
				totp = "TOTP"
			}
			fmt.Fprintf(&b, "%s  %-9s %-8s %-7s  %s\n", o.ID, o.Role, o.Status, totp, o.Email)
		}
		return map[string]any{"operators": ops}, b.String(), nil
	})
}

// listOperators reads every operator (by email) from the admin API.
func listOperators(ctx context.Context, api *adminClient) ([]operatorJSON, error) {
	var out struct {
		Operators []operatorJSON `json:"operators"`
	}
	err := api.do(ctx, "GET", "/api/admin/operators", nil, &out)
	return out.Operators, err
}

// operatorByEmail finds the operator a command's --email names (the admin
// API addresses operators by id).
func operatorByEmail(ctx context.Context, api *adminClient, email string) (operatorJSON, error) {
	ops, err := listOperators(ctx, api)
	if err != nil {
		return operatorJSON{}, err
	}
	want := operator.NormalizeEmail(email)
	for _, o := range ops {
		if operator.NormalizeEmail(o.Email) == want {
			return o, nil
		}
	}
	return operatorJSON{}, fmt.Errorf("--email %s: no such operator", strings.TrimSpace(email))
}

// operatorCommand parses the flags of a command about one operator
// (--email required, plus extra's) and runs fn on that operator through
// the admin API.
func operatorCommand(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer,
	extra func(fs *flag.FlagSet), check func() error, fn func(api *adminClient, o operatorJSON) (any, string, error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	email := fs.String("email", "", "the operator")
	if extra != nil {
		extra(fs)
	}
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return errors.New("--email is required")
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		o, err := operatorByEmail(ctx, api, *email)
		if err != nil {
			return nil, "", err
		}
		return fn(api, o)
	})
}

// findOperator reads --email and opens the store for a command about one
// operator.
func findOperator(ctx context.Context, c *common, getenv func(string) string, email string) (*sqlstore.Store, novamed.Environment, *operator.Operator, error) {
	if email == "" {
		return nil, "", nil, errors.New("--email is required")
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return nil, "", nil, err
	}
	o, err := store.GetOperatorByEmail(ctx, email)
	if err != nil {
		store.Close()
		return nil, "", nil, err
	}
	return store, env, o, nil
}

// tokenJSON is the --json shape of an issued operator token.
type tokenJSON struct {
	Token      string    `json:"token"`
	ID         string    `json:"id"`
	OperatorID string    `json:"operator_id"`
	Email      string    `json:"email"`
	Role       string    `json:"role"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func operatorsToken(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("operators token", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	email := fs.String("email", "", "the operator")
	expiresIn := fs.String("expires-in", "8h", "lifetime (at most 90d)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	ttl, err := parseDuration(*expiresIn)
	if err != nil {
		return fmt.Errorf("--expires-in: %w", err)
	}
	store, env, o, err := findOperator(ctx, &c, getenv, *email)
	if err != nil {
		return err
	}
	defer store.Close()
	raw, t, err := operatorService(store, env).IssueToken(ctx, o, ttl)
	if err != nil {
		return err
	}
	if err := auditDirect(ctx, store, getenv, "operators token", "operator.token_issue", "operator", []string{o.ID, t.ID}, ""); err != nil {
		return err
	}
	return emit(stdout, c.json, tokenJSON{Token: raw, ID: t.ID, OperatorID: o.ID, Email: o.Email, Role: string(t.Role), ExpiresAt: t.ExpiresAt},
		fmt.Sprintf("token:   %s\n(shown once; expires %s; use it as NOVAMED_OPERATOR_TOKEN with --server)\n", raw, t.ExpiresAt.Format(time.RFC3339)))
}

// operatorsSet changes one operator: disable, enable (status) or role
// (PATCH /api/admin/operators/{id}; the last active admin is kept).
func operatorsSet(name string, status operator.Status) func(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		var role *string
		extra := func(fs *flag.FlagSet) {
			if status == "" {
				role = fs.String("role", "", "the new role")
			}
		}
		var body httpapi.AdminOperatorUpdate
		check := func() error {
			if role != nil {
				r, err := operator.ParseRole(*role)
				if err != nil {
					return fmt.Errorf("--role: %w", err)
				}
				rs := string(r)
				body.Role = &rs
			} else {
				st := string(status)
				body.Status = &st
			}
			return nil
		}
		return operatorCommand(ctx, name, args, getenv, stdout, stderr, extra, check, func(api *adminClient, o operatorJSON) (any, string, error) {
			var out operatorJSON
			if err := api.do(ctx, "PATCH", "/api/admin/operators/"+pathID(o.ID), body, &out); err != nil {
				return nil, "", err
			}
			return out, fmt.Sprintf("operator %s: %s, %s (tokens of a changed operator are revoked)\n", out.Email, out.Role, out.Status), nil
		})
	}
}

// operatorsTOTPReset removes an operator's second factor and prints a
// one-time setup link through which they enrol a new one (POST
// /api/admin/operators/{id}/totp-reset, the console's reset): the new
// secret never passes through whoever runs it.
func operatorsTOTPReset(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return operatorCommand(ctx, "operators totp-reset", args, getenv, stdout, stderr, nil, nil, func(api *adminClient, o operatorJSON) (any, string, error) {
		var out operatorJSON
		if err := api.do(ctx, "POST", "/api/admin/operators/"+pathID(o.ID)+"/totp-reset", nil, &out); err != nil {
			return nil, "", err
		}
		exp := ""
		if out.SetupLinkExpiresAt != nil {
			exp = out.SetupLinkExpiresAt.UTC().Format(time.RFC3339)
		}
		return out, fmt.Sprintf("second factor of %s removed (their tokens are revoked)\nsetup link: %s\n(shown once; works once until %s; send it to the operator yourself: no e-mail is sent)\n",
			out.Email, out.SetupLink, exp), nil
	})
}

func operatorsTOTP(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("operators totp", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	email := fs.String("email", "", "the operator")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, env, o, err := findOperator(ctx, &c, getenv, *email)
	if err != nil {
		return err
	}
	defer store.Close()
	url, err := operatorService(store, env).EnrolTOTP(ctx, o)
	if err != nil {
		return err
	}
	if err := auditDirect(ctx, store, getenv, "operators totp", "operator.totp_enrol", "operator", []string{o.ID}, ""); err != nil {
		return err
	}
	out := toOperatorJSON(o)
	out.TOTPURL = url
	return emit(stdout, c.json, out, fmt.Sprintf("TOTP of %s (import into an authenticator app; shown once; the previous one no longer works):\n%s\n", o.Email, url))
}

func operatorsResetThrottle(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var addr *string
	extra := func(fs *flag.FlagSet) {
		addr = fs.String("address", "", "also clear the delay of this client address")
	}
	return operatorCommand(ctx, "operators reset-throttle", args, getenv, stdout, stderr, extra, nil, func(api *adminClient, o operatorJSON) (any, string, error) {
		var out struct {
			ID    string `json:"id"`
			Email string `json:"email"`
			Reset bool   `json:"reset"`
		}
		if err := api.do(ctx, "POST", "/api/admin/operators/"+pathID(o.ID)+"/throttle-reset", map[string]string{"address": *addr}, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("sign-in delay of %s cleared\n", out.Email), nil
	})
}
