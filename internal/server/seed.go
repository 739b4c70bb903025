package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// The fictitious records a development server starts with (contract §8,
// "Development data"), so the published examples answer as documented.
const (
	// DemoClinicID is the clinic id of the authentication guide's
	// examples, so they work unchanged against a fresh development server.
	DemoClinicID = "550e8400-e29b-41d4-a716-446655440000"
	// DevPatientID is the patient of the published carrier-services
	// example (GET /carriers/se-3818360/services?patientId=…).
	DevPatientID = "01aabf3a-51cd-4180-be17-8ac9446e9ace"
	// DevPractitionerID is an active test prescriber of the demo clinic.
	// It sorts below every time-ordered id, so lists (newest first) show
	// it last.
	DevPractitionerID = "0051e9a2-7c3b-4d1e-9f20-6a8b4c2d1e07"
)

// SeedDevelopmentData stores the demo clinic's test practitioner (active,
// so orders may name it) and the fictitious Alabama patient of the
// carrier-services example. Both are invented: no PHI belongs in
// development. The clinic's formulary is the built-in development one
// (novamed.ClinicFormulary), so nothing is stored for it.
func SeedDevelopmentData(ctx context.Context, store novamed.Store, clinicID string, now time.Time) error {
	pr := &novamed.Practitioner{
		ID: DevPractitionerID, ClinicID: clinicID, Status: novamed.PractitionerActive,
		FirstName: "Terry", LastName: "Testprescriber", Email: "terry.testprescriber@example.test", NPI: "1500000009",
		Address:   novamed.Address{Line1: "1 Sandbox Way", City: "Montgomery", State: "AL", Zip: "36104"},
		CreatedAt: now,
	}
	if err := store.CreatePractitioner(ctx, pr, novamed.Effects{}); err != nil {
		return err
	}
	pa := &novamed.Patient{
		ID: DevPatientID, ClinicID: clinicID, PractitionerID: pr.ID, Status: "active",
		FirstName: "Avery", LastName: "Testpatient", DateOfBirth: "1970-01-01", Species: "human",
		Email: "avery.testpatient@example.test", Contacts: []novamed.Contact{}, MedicationAllergies: []string{},
		Address:   novamed.Address{Line1: "100 Example Avenue", City: "Birmingham", State: "AL", Zip: "35203"},
		CreatedAt: now,
	}
	return store.CreatePatient(ctx, pa, novamed.Effects{})
}

// seedDemo creates the demo clinic, a development key and the development
// data (SeedDevelopmentData) on an empty development database and prints
// them: the only time that key is shown.
func seedDemo(ctx context.Context, store novamed.Store, stdout io.Writer, addr string, useTLS bool) error {
	clinics, err := store.ListClinics(ctx)
	if err != nil {
		return err
	}
	if len(clinics) > 0 {
		return remindDemoKey(ctx, store, stdout)
	}
	clinic := &novamed.Clinic{ID: DemoClinicID, Name: "Demo Clinic", PartnerID: novamed.DevPartnerID, CreatedAt: time.Now().UTC()}
	if err := store.EnsureDevPartner(ctx, clinic.CreatedAt); err != nil {
		return err
	}
	if err := store.CreateClinic(ctx, clinic); errors.Is(err, novamed.ErrConflict) {
		return nil // another replica seeded it a moment ago
	} else if err != nil {
		return err
	}
	k, raw, err := onboarding.NewKey(novamed.Development, "Development key", []string{clinic.ID}, nil, 0, clinic.CreatedAt)
	if err != nil {
		return err
	}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	if err := SeedDevelopmentData(ctx, store, clinic.ID, clinic.CreatedAt); err != nil {
		return err
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	fmt.Fprintf(stdout, `
NovaMed Partner API — development environment, first start
  Demo clinic id:   %s
  Practitioner id:  %s (active test prescriber)
  Patient id:       %s (fictitious, Alabama)
  Formulary:        the built-in test formulary (novamed formulary list --clinic %s)
  Development key:  %s
  (the key is shown only now and stored only as a hash; issue more with: novamed keys create --clinic %s)

  export NOVAMED_API_KEY=%s
  curl %s://%s/api/external/practitioner -H "x-api-key: $NOVAMED_API_KEY" -H "Accept: application/json"
  curl "%s://%s/api/external/carriers/se-3818360/services?patientId=%s" -H "x-api-key: $NOVAMED_API_KEY"

`, clinic.ID, DevPractitionerID, DevPatientID, clinic.ID, raw, clinic.ID, raw, scheme, addr, scheme, addr, DevPatientID)
	return nil
}

// remindDemoKey says, at each start while the demo key has never been
// used, that it was shown only once and how to issue a new one.
func remindDemoKey(ctx context.Context, store novamed.Store, stdout io.Writer) error {
	keys, err := store.ListAPIKeys(ctx, DemoClinicID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Name == "Development key" && k.LastUsedAt == nil && k.RevokedAt == nil {
			fmt.Fprintf(stdout, "novamed: the development key %s… printed at the first start has never been used; it is not shown again. Lost it? Issue a new one: novamed keys create --clinic %s\n", k.Prefix, DemoClinicID)
		}
	}
	return nil
}
