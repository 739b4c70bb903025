package sqlstore_test

import (
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// TestCreatePatientPostgresOneStatement: on PostgreSQL a patient create
// runs as one statement once the blind indexes' key version is known; it
// writes the patient, the Idempotency-Key's answer and the audit batch
// together, and writes nothing when it refuses (a used key, a duplicate, a
// practitioner of another clinic) or steps aside (a re-index began), in
// which case CreatePatient's general path still creates the patient.
func TestCreatePatientPostgresOneStatement(t *testing.T) {
	ctx := t.Context()
	dsn := postgresServer(t).freshDatabase(t)
	s := openPostgres(t, ctx, dsn, testKeyring(t))
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, c := range []string{"clinic_a", "clinic_b"} {
		if err := s.CreateClinic(ctx, &novamed.Clinic{ID: c, Name: c, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, pr := range []*novamed.Practitioner{
		{ID: "prac_a", ClinicID: "clinic_a", Status: "active", FirstName: "P", LastName: "A", Email: "p@a.test", NPI: "1234567893", CreatedAt: now},
		{ID: "prac_b", ClinicID: "clinic_b", Status: "active", FirstName: "P", LastName: "B", Email: "p@b.test", NPI: "1245319599", CreatedAt: now},
	} {
		if err := s.CreatePractitioner(ctx, pr, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() [3]int {
		t.Helper()
		var n [3]int
		// Audit records: pending or chained (each batch here holds one
		// record; the chainer moves them in one transaction).
		for i, q := range []string{`SELECT COUNT(*) FROM patients`, `SELECT COUNT(*) FROM idempotency_keys`,
			`SELECT (SELECT COUNT(*) FROM audit_pending) + (SELECT COUNT(*) FROM audit_log)`} {
			if err := db.QueryRowContext(ctx, q).Scan(&n[i]); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	patient := func(id, first, practitioner string) *novamed.Patient {
		return &novamed.Patient{ID: id, ClinicID: "clinic_a", PractitionerID: practitioner, Status: "active", FirstName: first, LastName: "Doe",
			DateOfBirth: "1990-01-02", Species: "human", CreatedAt: now}
	}
	effects := func(key string) novamed.Effects {
		return novamed.Effects{
			Idempotency: &novamed.IdempotencyRecord{Owner: "key_1", Key: key, Fingerprint: "f", Status: 201, Body: []byte(`{"id":"x"}`), CreatedAt: now, ClinicID: "clinic_a"},
			Audit:       &novamed.AuditRecord{Time: now, RequestID: "req_" + key, Action: "POST /api/external/patient", Status: 201},
		}
	}
	// The practitioner's create read the version: the one statement runs.
	seen := s.IndexVersionSeen()
	if seen == 0 {
		t.Fatal("a practitioner create read the blind indexes' version, but it was not noted")
	}
	version := seen - 1
	direct := func(p *novamed.Patient, eff novamed.Effects) (bool, error) {
		return s.CreatePatientOneStatement(ctx, p, eff)
	}
	if done, err := direct(patient("pat_1", "Ann", ""), effects("k1")); !done || err != nil {
		t.Fatalf("first create: done %v, err %v", done, err)
	}
	if got := counts(); got != [3]int{1, 1, 1} {
		t.Fatalf("after one create: patients, answers, audit records = %v, want 1, 1, 1", got)
	}
	got, err := s.GetPatient(ctx, "pat_1", []string{"clinic_a"})
	if err != nil || got.FirstName != "Ann" || got.Species != "human" {
		t.Fatalf("GetPatient: %+v, %v", got, err)
	}

	refusals := []struct {
		name string
		p    *novamed.Patient
		eff  novamed.Effects
		want func(error) bool
	}{
		{"used key", patient("pat_2", "Bea", ""), effects("k1"), func(err error) bool { return errors.Is(err, novamed.ErrIdempotencyConflict) }},
		{"used key and duplicate", patient("pat_2", "Ann", ""), effects("k1"), func(err error) bool { return errors.Is(err, novamed.ErrIdempotencyConflict) }},
		{"duplicate", patient("pat_2", "Ann", ""), effects("k2"), func(err error) bool {
			var dup *novamed.DuplicateError
			return errors.As(err, &dup)
		}},
		{"practitioner of another clinic", patient("pat_2", "Cy", "prac_b"), effects("k3"), func(err error) bool {
			var v *novamed.Error
			return errors.As(err, &v) && v.Code == novamed.CodeInvalid && v.Fields[0].Field == "practitioner_id"
		}},
	}
	for _, r := range refusals {
		done, err := direct(r.p, r.eff)
		if !done || !r.want(err) {
			t.Errorf("%s: done %v, err %v", r.name, done, err)
		}
		if got := counts(); got != [3]int{1, 1, 1} {
			t.Errorf("%s wrote: %v, want 1, 1, 1", r.name, got)
		}
	}

	// A re-index begins: the statement writes nothing and steps aside; the
	// general path (which reads the state in its transaction) creates.
	if _, err := db.ExecContext(ctx, `UPDATE blind_index_state SET target = $1 WHERE id = 1`, version+1); err != nil {
		t.Fatal(err)
	}
	if done, err := direct(patient("pat_3", "Dee", ""), effects("k4")); done || err != nil {
		t.Fatalf("during a re-index: done %v, err %v; want the general path", done, err)
	}
	if got := counts(); got != [3]int{1, 1, 1} {
		t.Fatalf("the refused statement wrote: %v", got)
	}
	if s.IndexVersionSeen() != 0 {
		t.Fatalf("index version still %d after the statement saw it move", s.IndexVersionSeen())
	}
	if _, err := db.ExecContext(ctx, `UPDATE blind_index_state SET target = $1 WHERE id = 1`, version); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePatient(ctx, patient("pat_3", "Dee", ""), effects("k4")); err != nil {
		t.Fatalf("CreatePatient by the general path: %v", err)
	}
	if got := counts(); got[0] != 2 || got[1] != 2 {
		t.Fatalf("after the general path: %v", got)
	}
	if s.IndexVersionSeen() != seen {
		t.Fatalf("the general path did not note the version: %d, want %d", s.IndexVersionSeen(), seen)
	}
	// Both paths store the same identity index: a duplicate of a patient
	// created by either is refused by the other.
	s.ForgetIndexVersion() // so the next create takes the general path
	if err := s.CreatePatient(ctx, patient("pat_4", "Ann", ""), effects("k5")); !isDuplicate(err) {
		t.Errorf("general-path duplicate of a one-statement patient: %v", err)
	}
	if done, err := direct(patient("pat_5", "Dee", ""), effects("k6")); !done || !isDuplicate(err) {
		t.Errorf("one-statement duplicate of a general-path patient: %v, %v", done, err)
	}
	// With a practitioner of the patient's clinic.
	if done, err := direct(patient("pat_6", "Eve", "prac_a"), effects("k7")); !done || err != nil {
		t.Fatalf("create with the clinic's practitioner: done %v, err %v", done, err)
	}
	if got, err := s.GetPatient(ctx, "pat_6", []string{"clinic_a"}); err != nil || got.PractitionerID != "prac_a" {
		t.Fatalf("GetPatient pat_6: %+v, %v", got, err)
	}
	if err := s.ChainPending(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error { ids = append(ids, r.RequestID); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"req_k1", "req_k4", "req_k7"}; !slices.Equal(ids, want) {
		t.Errorf("audit trail %v: want the creates' records %v, in order, and none of the refused", ids, want)
	}
}

func isDuplicate(err error) bool {
	var dup *novamed.DuplicateError
	return errors.As(err, &dup)
}
