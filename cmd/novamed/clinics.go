package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

func clinicsCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clinics create", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	name := fs.String("name", "", "clinic name")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	*name = strings.TrimSpace(*name)
	if *name == "" || len(*name) > 200 {
		return fmt.Errorf("--name is required (1 to 200 characters)")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	clinic := &novamed.Clinic{ID: uuid.NewString(), Name: *name, CreatedAt: time.Now().UTC()}
	if err := store.CreateClinic(ctx, clinic); err != nil {
		return err
	}
	return emit(stdout, c.json, clinic, fmt.Sprintf("created clinic %s (%s)\n", clinic.ID, clinic.Name))
}

func clinicsList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clinics list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	clinics, err := store.ListClinics(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, cl := range clinics {
		fmt.Fprintf(&b, "%s  %s\n", cl.ID, cl.Name)
	}
	return emit(stdout, c.json, map[string]any{"clinics": clinics}, b.String())
}
