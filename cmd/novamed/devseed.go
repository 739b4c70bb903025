package main

import (
	"context"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// The fictitious records a development server starts with (contract §8,
// "Development data"), so the published examples answer as documented.
const (
	// devPatientID is the patient of the published carrier-services
	// example (GET /carriers/se-3818360/services?patientId=…).
	devPatientID = "01aabf3a-51cd-4180-be17-8ac9446e9ace"
	// devPractitionerID is an active test prescriber of the demo clinic.
	// It sorts below every time-ordered id, so lists (newest first) show
	// it last.
	devPractitionerID = "0051e9a2-7c3b-4d1e-9f20-6a8b4c2d1e07"
)

// seedDevelopmentData stores the demo clinic's test practitioner (active,
// so orders may name it) and the fictitious Alabama patient of the
// carrier-services example. Both are invented: no PHI belongs in
// development. The clinic's formulary is the built-in development one
// (novamed.ClinicFormulary), so nothing is stored for it.
func seedDevelopmentData(ctx context.Context, store novamed.Store, clinicID string, now time.Time) error {
	pr := &novamed.Practitioner{
		ID: devPractitionerID, ClinicID: clinicID, Status: novamed.PractitionerActive,
		FirstName: "Terry", LastName: "Testprescriber", Email: "terry.testprescriber@example.test", NPI: "1500000009",
		Address:   novamed.Address{Line1: "1 Sandbox Way", City: "Montgomery", State: "AL", Zip: "36104"},
		CreatedAt: now,
	}
	if err := store.CreatePractitioner(ctx, pr, novamed.Effects{}); err != nil {
		return err
	}
	pa := &novamed.Patient{
		ID: devPatientID, ClinicID: clinicID, PractitionerID: pr.ID, Status: "active",
		FirstName: "Avery", LastName: "Testpatient", DateOfBirth: "1970-01-01", Species: "human",
		Email: "avery.testpatient@example.test", Contacts: []novamed.Contact{}, MedicationAllergies: []string{},
		Address:   novamed.Address{Line1: "100 Example Avenue", City: "Birmingham", State: "AL", Zip: "35203"},
		CreatedAt: now,
	}
	return store.CreatePatient(ctx, pa, novamed.Effects{})
}
