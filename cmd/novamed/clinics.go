package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
)

func clinicsCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	if *partner == "" && env == novamed.Production && c.server == "" {
		return fmt.Errorf("--partner is required in production: a clinic belongs to a partner (novamed partners create --name N)")
	}
	if *partner != "" && !novamed.IsUUID(*partner) {
		return fmt.Errorf("--partner %q is not a UUID", *partner)
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var clinic novamed.Clinic
		if err := api.do(ctx, "POST", "/api/admin/clinics", httpapi.AdminClinicRequest{Name: *name, PartnerID: *partner}, &clinic); err != nil {
			return nil, "", err
		}
		return clinic, fmt.Sprintf("created clinic %s (%s) of partner %s\n", clinic.ID, clinic.Name, clinic.PartnerID), nil
	})
}

func clinicsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clinics list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var clinics struct {
			Clinics []*novamed.Clinic `json:"clinics"`
		}
		if err := api.do(ctx, "GET", "/api/admin/clinics", nil, &clinics); err != nil {
			return nil, "", err
		}
		list, err := listPartners(ctx, api)
		if err != nil {
			return nil, "", err
		}
		partners := map[string]partnerJSON{}
		for _, p := range list {
			partners[p.ID] = p
		}
		var b strings.Builder
		for _, cl := range clinics.Clinics {
			line := fmt.Sprintf("%s  %s", cl.ID, cl.Name)
			if p, ok := partners[cl.PartnerID]; ok {
				line += fmt.Sprintf("  (partner %s, %s)", p.Name, p.Status)
				if len(p.Flags) > 0 {
					line += "  [" + strings.Join(p.Flags, "; ") + "]"
				}
			}
			b.WriteString(line + "\n")
		}
		return map[string]any{"clinics": clinics.Clinics}, b.String(), nil
	})
}
