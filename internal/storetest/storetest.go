package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// Run runs the suite; newStore returns a fresh, empty, migrated store for
// each subtest (t.Cleanup closes it). The store's clock must be the wall
// clock or any clock reading between 2025-03-15 and 2090 (see the package
// documentation).
func Run(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, newStore func(t *testing.T) novamed.Store)
	}{
		{"Clinics", testClinics},
		{"APIKeys", testAPIKeys},
		{"Partners", testPartners},
		{"Practitioners", testPractitioners},
		{"Patients", testPatients},
		{"Effects", testEffects},
		{"Idempotency", testIdempotency},
		{"Audit", testAudit},
		{"Lifecycle", testLifecycle},
		{"Orders", testOrders},
		{"Transitions", testTransitions},
		{"Refills", testRefills},
		{"Shipments", testShipments},
		{"Carriers", testCarriers},
		{"FreeShipping", testFreeShipping},
		{"Activation", testActivation},
		{"Formulary", testFormulary},
		{"WebhookOrder", testWebhookOrder},
		{"WebhookSecrets", testWebhookSecrets},
		{"Webhooks", testWebhooks},
		{"Deliveries", testDeliveries},
		{"Usage", testUsage},
		{"Updates", testUpdates},
		{"ConsoleSessions", testConsoleSessions},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, newStore) })
	}
}

// base is the first instant the suite stores: nanoseconds and a non-UTC zone,
// so that every round trip shows the store's normalisation.
var base = time.Date(2025, 3, 14, 10, 9, 26, 535897932, time.FixedZone("EST", -5*3600))

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// norm is the form a store returns a time in: UTC, microsecond precision.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// normPtr is norm for optional times.
func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

// fixture is one subtest's fresh store and the helpers that fill it.
type fixture struct {
	t   *testing.T
	ctx context.Context
	s   novamed.Store
	n   int // counts created values, for distinct names and times
}

func newFixture(t *testing.T, newStore func(t *testing.T) novamed.Store) *fixture {
	t.Helper()
	return &fixture{t: t, ctx: t.Context(), s: newStore(t)}
}

// tick returns a distinct, increasing creation time.
func (f *fixture) tick() time.Time {
	f.n++
	return at(time.Duration(f.n) * time.Second)
}

// newV7 returns a UUIDv7 string; successive calls increase.
func newV7(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	must(t, "uuid.NewV7", err)
	return id.String()
}

// clinic creates a clinic.
func (f *fixture) clinic(name string) *novamed.Clinic {
	f.t.Helper()
	c := &novamed.Clinic{ID: uuid.NewString(), Name: name, CreatedAt: f.tick()}
	must(f.t, "CreateClinic", f.s.CreateClinic(f.ctx, c))
	return c
}

// newKey builds (without storing) a key granted clinics.
func (f *fixture) newKey(name string, env novamed.Environment, clinics ...string) *novamed.APIKey {
	f.t.Helper()
	id := uuid.NewString()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	sum := sha256.Sum256(raw)
	return &novamed.APIKey{
		ID: id, Owner: id, Name: name, Environment: env,
		Prefix: "dev_" + hex.EncodeToString(raw[:4]), HashHex: hex.EncodeToString(sum[:]),
		Clinics: clinics, CreatedAt: f.tick(),
	}
}

// key creates a development key granted clinics.
func (f *fixture) key(name string, clinics ...string) *novamed.APIKey {
	f.t.Helper()
	k := f.newKey(name, novamed.Development, clinics...)
	must(f.t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k))
	return k
}

// storedKey is the form GetAPIKey returns k in right after CreateAPIKey.
func storedKey(k *novamed.APIKey) *novamed.APIKey {
	w := *k
	w.Clinics = slices.Sorted(slices.Values(k.Clinics))
	w.CreatedAt = norm(k.CreatedAt)
	w.ExpiresAt, w.RevokedAt, w.LastUsedAt = normPtr(k.ExpiresAt), normPtr(k.RevokedAt), normPtr(k.LastUsedAt)
	return &w
}

// getKey reads a key that must exist.
func (f *fixture) getKey(id string) *novamed.APIKey {
	f.t.Helper()
	k, err := f.s.GetAPIKey(f.ctx, id)
	must(f.t, "GetAPIKey "+id, err)
	return k
}

// fullPractitioner builds a practitioner with every field set.
func (f *fixture) fullPractitioner(clinic string) *novamed.Practitioner {
	f.t.Helper()
	f.n++
	return &novamed.Practitioner{
		ID: newV7(f.t), ClinicID: clinic, Status: novamed.PractitionerActive,
		FirstName: "Ada", LastName: fmt.Sprintf("O'Lovelace-%d", f.n), Email: fmt.Sprintf("ada.%d@example.org", f.n),
		NPI: fmt.Sprintf("%010d", 1234500000+f.n), IsVeterinarian: true, Phone: "+1 (555) 010-0199",
		Credentials: "DVM, PhD", Specialty: "Small-animal surgery", LicenseNumber: "LIC-42/α",
		LicenseState: "NY", LicenseExpiration: "2027-12-31", DEANumber: "AB1234563", DEAExpiration: "2026-06-30",
		SignatureImage: "data:image/png;base64,iVBORw0KGgo=",
		Address: novamed.Address{
			Line1: "1 Main St", Line2: "Suite 200", Line3: "c/o \"Clinic\"", City: "Springfield", State: "IL", Zip: "62704-1234",
		},
		CreatedAt: f.tick(),
	}
}

// minimalPractitioner builds a practitioner with only the required fields.
func (f *fixture) minimalPractitioner(clinic string) *novamed.Practitioner {
	f.t.Helper()
	f.n++
	return &novamed.Practitioner{
		ID: newV7(f.t), ClinicID: clinic, Status: novamed.PractitionerPending,
		FirstName: "Bo", LastName: fmt.Sprintf("Min-%d", f.n), Email: fmt.Sprintf("bo.%d@example.org", f.n),
		NPI: fmt.Sprintf("%010d", 1987600000+f.n), CreatedAt: f.tick(),
	}
}

// practitioner creates a minimal practitioner.
func (f *fixture) practitioner(clinic string) *novamed.Practitioner {
	f.t.Helper()
	p := f.minimalPractitioner(clinic)
	must(f.t, "CreatePractitioner", f.s.CreatePractitioner(f.ctx, p, novamed.Effects{}))
	return p
}

// storedPractitioner is the form GetPractitioner returns p in.
func storedPractitioner(p *novamed.Practitioner) *novamed.Practitioner {
	w := *p
	w.CreatedAt = norm(p.CreatedAt)
	return &w
}

// fullPatient builds a patient with every field set; practitioner may be "".
func (f *fixture) fullPatient(clinic, practitioner string) *novamed.Patient {
	f.t.Helper()
	f.n++
	return &novamed.Patient{
		ID: newV7(f.t), ClinicID: clinic, PractitionerID: practitioner, Status: "active",
		FirstName: "Rex", MiddleName: "T.", LastName: fmt.Sprintf("Doe-%d", f.n), DateOfBirth: "2019-02-28",
		Gender: "male", Species: "canine", AnimalOwnerName: "Jane Doe", Weight: "32.5 kg",
		WeightRecordedDate: "2025-03-01", Height: "60 cm", Email: "jane@example.org", Phone: "+15550100",
		Contacts: []novamed.Contact{{Key: "emergency", Value: "+15550101"}, {Key: "vet-tech", Value: "ops@example.org"}},
		Address: novamed.Address{
			Line1: "2 Elm St", Line2: "Apt 3", Line3: "Building ü", City: "Portland", State: "OR", Zip: "97201",
		},
		MedicationAllergies: []string{"penicillin", "carprofen"},
		MedicalHistory:      "Hip dysplasia;\nvaccinated 2024-05-01",
		ContactPreferences:  &novamed.ContactPreferences{Email: true, SMS: false, Phone: true},
		Notes:               "Bites when \"nervous\" \t ✓",
		CreatedAt:           f.tick(),
	}
}

// minimalPatient builds a patient with only the required fields.
func (f *fixture) minimalPatient(clinic string) *novamed.Patient {
	f.t.Helper()
	f.n++
	return &novamed.Patient{
		ID: newV7(f.t), ClinicID: clinic, Status: "active",
		FirstName: "Ann", LastName: fmt.Sprintf("Min-%d", f.n), DateOfBirth: "1984-02-29", Species: "human",
		CreatedAt: f.tick(),
	}
}

// patient creates a minimal patient.
func (f *fixture) patient(clinic string) *novamed.Patient {
	f.t.Helper()
	p := f.minimalPatient(clinic)
	must(f.t, "CreatePatient", f.s.CreatePatient(f.ctx, p, novamed.Effects{}))
	return p
}

// storedPatient is the form GetPatient returns p in: nil lists come back empty.
func storedPatient(p *novamed.Patient) *novamed.Patient {
	w := *p
	w.CreatedAt = norm(p.CreatedAt)
	if w.Contacts == nil {
		w.Contacts = []novamed.Contact{}
	}
	if w.MedicationAllergies == nil {
		w.MedicationAllergies = []string{}
	}
	return &w
}

// auditRecord builds an unchained audit record with every field set.
func (f *fixture) auditRecord(action string, when time.Time) *novamed.AuditRecord {
	f.n++
	return &novamed.AuditRecord{
		Time: when, RequestID: fmt.Sprintf("req-%d", f.n), KeyID: "key-1", KeyOwner: "owner-1",
		KeyPrefix: "dev_abcd", ClinicID: "clinic-1", Action: action, ResourceType: "patient",
		ResourceIDs: []string{fmt.Sprintf("res-%d", f.n), "res-x"}, ClientAddr: "192.0.2.1:5555",
		UserAgent: "storetest/1.0", Status: 200 + f.n%3,
	}
}

// scanAudit returns every audit record in [since, until).
func (f *fixture) scanAudit(since, until time.Time) []*novamed.AuditRecord {
	f.t.Helper()
	out := []*novamed.AuditRecord{}
	must(f.t, "ScanAudit", f.s.ScanAudit(f.ctx, since, until, func(r *novamed.AuditRecord) error {
		out = append(out, r)
		return nil
	}))
	return out
}

// idemRecord builds an idempotency record.
func idemRecord(owner, key string, created time.Time) *novamed.IdempotencyRecord {
	return &novamed.IdempotencyRecord{
		Owner: owner, Key: key, Fingerprint: hex.EncodeToString([]byte(owner + "/" + key)), Status: 201,
		Body:      []byte("{\"id\":\"" + key + "\",\"note\":\"é ✓ \\\"q\\\"\\n\"}\n"),
		CreatedAt: created,
	}
}

// storedIdem is the form GetIdempotency returns r in.
func storedIdem(r *novamed.IdempotencyRecord) *novamed.IdempotencyRecord {
	w := *r
	w.CreatedAt = norm(r.CreatedAt)
	return &w
}
