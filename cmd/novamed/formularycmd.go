package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
)

// formularyDoc is the file `formulary import` reads and `formulary list
// --json` prints (the admin API's formulary).
type formularyDoc = httpapi.AdminFormulary

// formularyCommand parses a formulary command's flags (--clinic required).
func formularyCommand(name string, args []string, getenv func(string) string, extra func(fs *flag.FlagSet)) (*common, string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &common{}
	c.register(fs, getenv)
	clinic := fs.String("clinic", "", "clinic id (required)")
	if extra != nil {
		extra(fs)
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(pos) > 0 {
		return nil, "", fmt.Errorf("%s takes no arguments (got %q); use its flags", name, pos[0])
	}
	if !novamed.IsUUID(*clinic) {
		return nil, "", errors.New("--clinic CLINIC_ID is required")
	}
	return c, strings.ToLower(*clinic), nil
}

// formularyList prints the formulary that applies to a clinic's orders.
func formularyList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, clinic, err := formularyCommand("formulary list", args, getenv, nil)
	if err != nil {
		return err
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var doc formularyDoc
		if err := api.do(ctx, "GET", "/api/admin/clinics/"+pathID(clinic)+"/formulary", nil, &doc); err != nil {
			return nil, "", unknownID(err, "--clinic", "clinic", clinic)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "clinic %s: %d medications (%s)\n", clinic, len(doc.Medications), doc.Source)
		for _, e := range doc.Medications {
			cold := ""
			if e.IsRefrigerated {
				cold = "  refrigerated"
			}
			fmt.Fprintf(&b, "  %-32s %-10s %s%s\n", e.Name, e.UnitOfMeasure, strings.Join(e.Strengths, ", "), cold)
		}
		if len(doc.Medications) == 0 {
			b.WriteString("  (orders are refused until a formulary is imported: novamed formulary import --clinic " + clinic + " --file F)\n")
		}
		return doc, b.String(), nil
	})
}

// formularyImport replaces a clinic's formulary from a JSON file shaped
// like `formulary list --json` ({"medications": […]}).
func formularyImport(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var file *string
	c, clinic, err := formularyCommand("formulary import", args, getenv, func(fs *flag.FlagSet) {
		file = fs.String("file", "", `JSON file with {"medications": [{"name", "strengths", "unit_of_measure", "is_refrigerated"}, …]}`)
	})
	if err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--file is required")
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var doc formularyDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	if doc.Medications == nil {
		return fmt.Errorf(`%s: no "medications" list (an empty list [] removes the clinic's formulary)`, *file)
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := mustExist(ctx, store, "--clinic", "clinic", clinic, ""); err != nil {
		return err
	}
	if err := store.ReplaceFormulary(ctx, clinic, doc.Medications); err != nil {
		return err
	}
	return emit(stdout, c.json, map[string]any{"clinic_id": clinic, "medications": len(doc.Medications)},
		fmt.Sprintf("clinic %s: formulary replaced, %d medications\n", clinic, len(doc.Medications)))
}

// formularySet adds a medication to a clinic's formulary or replaces the
// one with the same name.
func formularySet(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var name, unit *string
	var cold *bool
	var strengths stringList
	c, clinic, err := formularyCommand("formulary set", args, getenv, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "medication name (required; matched case-insensitively)")
		fs.Var(&strengths, "strength", "a strength or dose NovaMed dispenses, e.g. \"0.25 mg\" (repeatable)")
		unit = fs.String("unit", "", "unit of measure, e.g. mg")
		cold = fs.Bool("refrigerated", false, "ships refrigerated")
	})
	if err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("--name is required")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := mustExist(ctx, store, "--clinic", "clinic", clinic, ""); err != nil {
		return err
	}
	e := novamed.FormularyEntry{Name: *name, Strengths: strengths, UnitOfMeasure: *unit, IsRefrigerated: *cold}.Normalize()
	if err := store.SetFormularyEntry(ctx, clinic, e); err != nil {
		return err
	}
	return emit(stdout, c.json, map[string]any{"clinic_id": clinic, "medication": e},
		fmt.Sprintf("clinic %s: %s is in the formulary\n", clinic, e.Name))
}

// formularyRemove takes a medication out of a clinic's formulary.
func formularyRemove(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var name *string
	c, clinic, err := formularyCommand("formulary remove", args, getenv, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "medication name (required; matched case-insensitively)")
	})
	if err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("--name is required")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := mustExist(ctx, store, "--clinic", "clinic", clinic, ""); err != nil {
		return err
	}
	if err := store.RemoveFormularyEntry(ctx, clinic, *name); err != nil {
		return err
	}
	return emit(stdout, c.json, map[string]any{"clinic_id": clinic, "removed": strings.TrimSpace(*name)},
		fmt.Sprintf("clinic %s: %s removed from the formulary\n", clinic, strings.TrimSpace(*name)))
}
