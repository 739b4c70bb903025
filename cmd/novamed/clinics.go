package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

func clinicsCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clinics create", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	name := fs.String("name", "", "clinic name")
	partner := fs.String("partner", "", "the partner the clinic belongs to (development default: the development partner)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	*name = strings.TrimSpace(*name)
	if *name == "" || len(*name) > 200 {
		return fmt.Errorf("--name is required (1 to 200 characters)")
	}
	env, err := c.environment()
	if err != nil {
		return err
	}
	if *partner == "" && env == novamed.Production {
		return fmt.Errorf("--partner is required in production: a clinic belongs to a partner (novamed partners create --name N)")
	}
	if *partner != "" && !novamed.IsUUID(*partner) {
		return fmt.Errorf("--partner %q is not a UUID", *partner)
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	clinic, err := onboarding.CreateClinic(ctx, store, deps(env), localActor(getenv, "novamed clinics create"), *name, *partner)
	if err != nil {
		return err
	}
	return emit(stdout, c.json, clinic, fmt.Sprintf("created clinic %s (%s) of partner %s\n", clinic.ID, clinic.Name, clinic.PartnerID))
}

func clinicsList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clinics list", flag.ContinueOnError)
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
	clinics, err := store.ListClinics(ctx)
	if err != nil {
		return err
	}
	partners, err := partnerStates(ctx, store)
	if err != nil {
		return err
	}
	now := time.Now()
	var b strings.Builder
	for _, cl := range clinics {
		line := fmt.Sprintf("%s  %s", cl.ID, cl.Name)
		if p := partners[cl.PartnerID]; p != nil {
			line += fmt.Sprintf("  (partner %s, %s)", p.Name, p.Status)
			if f := partnerFlags(p, env, now); len(f) > 0 {
				line += "  [" + strings.Join(f, "; ") + "]"
			}
		}
		b.WriteString(line + "\n")
	}
	return emit(stdout, c.json, map[string]any{"clinics": clinics}, b.String())
}
