package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
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

// clinicNotFound turns the admin API's "Clinic not found" for the clinic
// --clinic named into an error naming the flag; other errors (a missing
// medication) pass as they are.
func clinicNotFound(err error, clinic string) error {
	var e *novamed.Error
	if errors.As(err, &e) && e.Code == novamed.CodeNotFound && strings.HasPrefix(e.Message, "Clinic") {
		return fmt.Errorf("--clinic %s: no such clinic", clinic)
	}
	return err
}

// formularyImport replaces a clinic's formulary from a JSON file shaped
// like `formulary list --json` ({"medications": […]}).
func formularyImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	// Checked here too, so a bad file is named before any request.
	meds, err := httpapi.DecodeFormularyImport(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			ClinicID    string `json:"clinic_id"`
			Medications int    `json:"medications"`
		}
		if err := api.do(ctx, "PUT", "/api/admin/clinics/"+pathID(clinic)+"/formulary", formularyDoc{Medications: meds}, &out); err != nil {
			return nil, "", clinicNotFound(err, clinic)
		}
		return out, fmt.Sprintf("clinic %s: formulary replaced, %d medications\n", out.ClinicID, out.Medications), nil
	})
}

// formularySet adds a medication to a clinic's formulary or replaces the
// one with the same name.
func formularySet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	e := novamed.FormularyEntry{Name: *name, Strengths: strengths, UnitOfMeasure: *unit, IsRefrigerated: *cold}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			ClinicID   string                 `json:"clinic_id"`
			Medication novamed.FormularyEntry `json:"medication"`
		}
		if err := api.do(ctx, "POST", "/api/admin/clinics/"+pathID(clinic)+"/formulary/medications", e, &out); err != nil {
			return nil, "", clinicNotFound(err, clinic)
		}
		return out, fmt.Sprintf("clinic %s: %s is in the formulary\n", out.ClinicID, out.Medication.Name), nil
	})
}

// formularyRemove takes a medication out of a clinic's formulary.
func formularyRemove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			ClinicID string `json:"clinic_id"`
			Removed  string `json:"removed"`
		}
		if err := api.do(ctx, "DELETE", "/api/admin/clinics/"+pathID(clinic)+"/formulary/medications/"+url.PathEscape(strings.TrimSpace(*name)), nil, &out); err != nil {
			return nil, "", clinicNotFound(err, clinic)
		}
		return out, fmt.Sprintf("clinic %s: %s removed from the formulary\n", out.ClinicID, out.Removed), nil
	})
}
