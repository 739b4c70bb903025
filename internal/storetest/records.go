package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

const unknownID = "00000000-0000-7000-8000-0000000000ff"

func testPractitioners(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		cases := []struct {
			name  string
			build func(f *fixture, clinic string) *novamed.Practitioner
		}{
			{"every field", (*fixture).fullPractitioner},
			{"required fields only", (*fixture).minimalPractitioner},
			{"not a veterinarian", func(f *fixture, clinic string) *novamed.Practitioner {
				p := f.fullPractitioner(clinic)
				p.IsVeterinarian = false
				return p
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				p := tc.build(f, c.ID)
				want := storedPractitioner(p)
				must(t, "CreatePractitioner", f.s.CreatePractitioner(f.ctx, p, novamed.Effects{}))
				got, err := f.s.GetPractitioner(f.ctx, p.ID, []string{c.ID})
				must(t, "GetPractitioner", err)
				equal(t, "GetPractitioner", got, want)
				items, next, err := f.s.ListPractitioners(f.ctx, novamed.ListFilter{Clinics: []string{c.ID}, Limit: 10})
				must(t, "ListPractitioners", err)
				equal(t, "ListPractitioners", items, []*novamed.Practitioner{want})
				equal(t, "ListPractitioners next", next, "")
			})
		}
	})

	t.Run("GetScope", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p := f.practitioner(a.ID)
		testScope(t, "GetPractitioner", a.ID, b.ID, p.ID, storedPractitioner(p),
			func(id string, clinics []string) (*novamed.Practitioner, error) {
				return f.s.GetPractitioner(f.ctx, id, clinics)
			})
	})

	t.Run("DuplicateNPI", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		first := f.fullPractitioner(a.ID)
		must(t, "CreatePractitioner", f.s.CreatePractitioner(f.ctx, first, novamed.Effects{}))

		same := f.minimalPractitioner(a.ID)
		same.NPI = first.NPI
		err := f.s.CreatePractitioner(f.ctx, same, novamed.Effects{})
		wantIs(t, "CreatePractitioner same NPI, same clinic", err, novamed.ErrConflict)
		wantExisting(t, "CreatePractitioner same NPI, same clinic", err, first.ID)
		_, err = f.s.GetPractitioner(f.ctx, same.ID, []string{a.ID})
		wantCode(t, "GetPractitioner of the duplicate", err, novamed.CodeNotFound)

		other := f.minimalPractitioner(b.ID)
		other.NPI = first.NPI
		must(t, "CreatePractitioner same NPI, other clinic", f.s.CreatePractitioner(f.ctx, other, novamed.Effects{}))

		for _, c := range []struct {
			clinic string
			want   []*novamed.Practitioner
		}{{a.ID, []*novamed.Practitioner{storedPractitioner(first)}}, {b.ID, []*novamed.Practitioner{storedPractitioner(other)}}} {
			items, _, err := f.s.ListPractitioners(f.ctx, novamed.ListFilter{Clinics: []string{c.clinic}, Limit: 10})
			must(t, "ListPractitioners", err)
			equal(t, "ListPractitioners after duplicate", items, c.want)
		}
	})

	t.Run("List", func(t *testing.T) {
		testList(t, newStore,
			func(f *fixture, clinic string) (*novamed.Practitioner, *novamed.Practitioner) {
				p := f.fullPractitioner(clinic)
				want := storedPractitioner(p)
				must(f.t, "CreatePractitioner", f.s.CreatePractitioner(f.ctx, p, novamed.Effects{}))
				return p, want
			},
			func(f *fixture) func(context.Context, novamed.ListFilter) ([]*novamed.Practitioner, string, error) {
				return f.s.ListPractitioners
			},
			func(p *novamed.Practitioner) string { return p.ID })
	})
}

func testPatients(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		cases := []struct {
			name  string
			build func(f *fixture, clinic, practitioner string) *novamed.Patient
		}{
			{"every field", (*fixture).fullPatient},
			{"required fields only", func(f *fixture, clinic, _ string) *novamed.Patient { return f.minimalPatient(clinic) }},
			{"empty lists and all-false preferences", func(f *fixture, clinic, _ string) *novamed.Patient {
				p := f.minimalPatient(clinic)
				p.Contacts, p.MedicationAllergies = []novamed.Contact{}, []string{}
				p.ContactPreferences = &novamed.ContactPreferences{}
				p.Address = novamed.Address{City: "Only City"}
				return p
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				pr := f.practitioner(c.ID)
				p := tc.build(f, c.ID, pr.ID)
				want := storedPatient(p)
				must(t, "CreatePatient", f.s.CreatePatient(f.ctx, p, novamed.Effects{}))
				got, err := f.s.GetPatient(f.ctx, p.ID, []string{c.ID})
				must(t, "GetPatient", err)
				equal(t, "GetPatient", got, want)
				items, next, err := f.s.ListPatients(f.ctx, novamed.ListFilter{Clinics: []string{c.ID}, Limit: 10})
				must(t, "ListPatients", err)
				equal(t, "ListPatients", items, []*novamed.Patient{want})
				equal(t, "ListPatients next", next, "")
			})
		}
	})

	t.Run("GetScope", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p := f.patient(a.ID)
		testScope(t, "GetPatient", a.ID, b.ID, p.ID, storedPatient(p),
			func(id string, clinics []string) (*novamed.Patient, error) {
				return f.s.GetPatient(f.ctx, id, clinics)
			})
	})

	t.Run("DuplicateIdentity", func(t *testing.T) {
		cases := []struct {
			name     string
			mutate   func(p *novamed.Patient, first *novamed.Patient, otherClinic string)
			conflict bool
		}{
			{"same name and birth date", func(p, first *novamed.Patient, _ string) {}, true},
			{"name in other case", func(p, first *novamed.Patient, _ string) {
				p.FirstName, p.LastName = strings.ToUpper(first.FirstName), strings.ToLower(first.LastName)
			}, true},
			{"other middle name and details", func(p, first *novamed.Patient, _ string) {
				p.MiddleName, p.Species, p.Email = "Q.", "feline", "other@example.org"
			}, true},
			{"other birth date", func(p, first *novamed.Patient, _ string) { p.DateOfBirth = "2019-03-01" }, false},
			{"other first name", func(p, first *novamed.Patient, _ string) { p.FirstName = "Max" }, false},
			{"other last name", func(p, first *novamed.Patient, _ string) { p.LastName += "x" }, false},
			{"other clinic", func(p, first *novamed.Patient, other string) { p.ClinicID, p.PractitionerID = other, "" }, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				a, b := f.clinic("A"), f.clinic("B")
				first := f.fullPatient(a.ID, "")
				must(t, "CreatePatient", f.s.CreatePatient(f.ctx, first, novamed.Effects{}))
				p := f.minimalPatient(a.ID)
				p.FirstName, p.LastName, p.DateOfBirth = first.FirstName, first.LastName, first.DateOfBirth
				tc.mutate(p, first, b.ID)
				err := f.s.CreatePatient(f.ctx, p, novamed.Effects{})
				both := []string{a.ID, b.ID}
				if tc.conflict {
					wantIs(t, "CreatePatient", err, novamed.ErrConflict)
					wantExisting(t, "CreatePatient", err, first.ID)
					_, err = f.s.GetPatient(f.ctx, p.ID, both)
					wantCode(t, "GetPatient of the duplicate", err, novamed.CodeNotFound)
				} else {
					must(t, "CreatePatient", err)
					got, err := f.s.GetPatient(f.ctx, p.ID, both)
					must(t, "GetPatient", err)
					equal(t, "GetPatient", got, storedPatient(p))
				}
				items, _, err := f.s.ListPatients(f.ctx, novamed.ListFilter{Clinics: both, Limit: 10})
				must(t, "ListPatients", err)
				want := map[bool]int{true: 1, false: 2}[tc.conflict]
				if len(items) != want {
					t.Errorf("ListPatients: got %d patients, want %d", len(items), want)
				}
			})
		}
	})

	t.Run("Practitioner", func(t *testing.T) {
		cases := []struct {
			name         string
			practitioner func(own, other *novamed.Practitioner) string
			ok           bool
		}{
			{"of the patient's clinic", func(own, _ *novamed.Practitioner) string { return own.ID }, true},
			{"of another clinic", func(_, other *novamed.Practitioner) string { return other.ID }, false},
			{"unknown", func(_, _ *novamed.Practitioner) string { return unknownID }, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				a, b := f.clinic("A"), f.clinic("B")
				own, other := f.practitioner(a.ID), f.practitioner(b.ID)
				p := f.fullPatient(a.ID, tc.practitioner(own, other))
				eff := novamed.Effects{
					Idempotency: idemRecord("owner-1", "create-1", base),
					Audit:       f.auditRecord("patient.create", base),
				}
				err := f.s.CreatePatient(f.ctx, p, eff)
				both := []string{a.ID, b.ID}
				if tc.ok {
					must(t, "CreatePatient", err)
					got, err := f.s.GetPatient(f.ctx, p.ID, both)
					must(t, "GetPatient", err)
					equal(t, "GetPatient", got, storedPatient(p))
					return
				}
				wantCode(t, "CreatePatient", err, novamed.CodeInvalid)
				_, err = f.s.GetPatient(f.ctx, p.ID, both)
				wantCode(t, "GetPatient of the refused patient", err, novamed.CodeNotFound)
				items, _, err := f.s.ListPatients(f.ctx, novamed.ListFilter{Clinics: both, Limit: 10})
				must(t, "ListPatients", err)
				equal(t, "ListPatients after refusal", items, []*novamed.Patient{})
				_, err = f.s.GetIdempotency(f.ctx, "owner-1", "create-1")
				wantCode(t, "GetIdempotency of the refused create", err, novamed.CodeNotFound)
				equal(t, "audit records after refusal", len(f.scanAudit(zeroTime, zeroTime)), 0)
			})
		}
	})

	t.Run("List", func(t *testing.T) {
		testList(t, newStore,
			func(f *fixture, clinic string) (*novamed.Patient, *novamed.Patient) {
				p := f.fullPatient(clinic, "")
				want := storedPatient(p)
				must(f.t, "CreatePatient", f.s.CreatePatient(f.ctx, p, novamed.Effects{}))
				return p, want
			},
			func(f *fixture) func(context.Context, novamed.ListFilter) ([]*novamed.Patient, string, error) {
				return f.s.ListPatients
			},
			func(p *novamed.Patient) string { return p.ID })
	})
}

// testScope checks that a row is found only through its own clinic.
func testScope[T any](t *testing.T, name, own, other, id string, want T, get func(id string, clinics []string) (T, error)) {
	t.Helper()
	cases := []struct {
		name    string
		id      string
		clinics []string
		found   bool
	}{
		{"own clinic", id, []string{own}, true},
		{"own among others", id, []string{other, own}, true},
		{"other clinic", id, []string{other}, false},
		{"unknown clinic", id, []string{unknownID}, false},
		{"empty clinics", id, []string{}, false},
		{"nil clinics", id, nil, false},
		{"unknown id", unknownID, []string{own, other}, false},
	}
	for _, tc := range cases {
		got, err := get(tc.id, tc.clinics)
		what := fmt.Sprintf("%s %s", name, tc.name)
		if tc.found {
			must(t, what, err)
			equal(t, what, got, want)
			continue
		}
		wantCode(t, what, err, novamed.CodeNotFound)
	}
}

// testList checks keyset pagination (newest first) and clinic filtering.
// create stores a new item in a clinic and returns it and its stored form.
func testList[T any](t *testing.T, newStore func(t *testing.T) novamed.Store,
	create func(f *fixture, clinic string) (T, T),
	lister func(f *fixture) func(context.Context, novamed.ListFilter) ([]T, string, error),
	idOf func(T) string,
) {
	t.Run("Pages", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		var want []T // newest first
		for range 7 {
			_, w := create(f, c.ID)
			want = append([]T{w}, want...)
		}
		list := lister(f)
		for _, limit := range []int{3, 7, 10, 1} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				walkPages(t, f, list, idOf, []string{c.ID}, limit, want)
			})
		}
	})

	t.Run("Clinics", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b, empty := f.clinic("A"), f.clinic("B"), f.clinic("empty")
		var all, inA, inB []T // newest first
		for i := range 7 {
			clinic := a.ID
			if i%2 == 1 {
				clinic = b.ID
			}
			_, w := create(f, clinic)
			all = append([]T{w}, all...)
			if clinic == a.ID {
				inA = append([]T{w}, inA...)
			} else {
				inB = append([]T{w}, inB...)
			}
		}
		list := lister(f)
		cases := []struct {
			name    string
			clinics []string
			want    []T
		}{
			{"A", []string{a.ID}, inA},
			{"B", []string{b.ID}, inB},
			{"A and B", []string{b.ID, a.ID}, all},
			{"A and empty", []string{a.ID, empty.ID}, inA},
			{"empty clinic", []string{empty.ID}, nil},
			{"unknown clinic", []string{unknownID}, nil},
			{"no clinics", []string{}, nil},
			{"nil clinics", nil, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				walkPages(t, f, list, idOf, tc.clinics, 3, tc.want)
			})
		}
	})
}

// walkPages lists every page with limit and checks each against want.
func walkPages[T any](t *testing.T, f *fixture, list func(context.Context, novamed.ListFilter) ([]T, string, error),
	idOf func(T) string, clinics []string, limit int, want []T,
) {
	t.Helper()
	cursor := ""
	for page := 1; ; page++ {
		lo := min((page-1)*limit, len(want))
		hi := min(lo+limit, len(want))
		items, next, err := list(f.ctx, novamed.ListFilter{Clinics: clinics, Limit: limit, Cursor: cursor})
		must(t, fmt.Sprintf("page %d", page), err)
		wantPage := slices.Clone(want[lo:hi])
		if wantPage == nil {
			wantPage = []T{}
		}
		if !equal(t, fmt.Sprintf("page %d (cursor %q)", page, cursor), items, wantPage) {
			return
		}
		wantNext := ""
		if hi < len(want) {
			wantNext = idOf(want[hi-1])
		}
		if next != wantNext {
			t.Errorf("page %d: next: got %q, want %q", page, next, wantNext)
			return
		}
		if next == "" {
			if wantPages := max(1, (len(want)+limit-1)/limit); page != wantPages {
				t.Errorf("pages: got %d, want %d", page, wantPages)
			}
			return
		}
		cursor = next
	}
}

// wantExisting checks that a create's conflict names the stored record.
func wantExisting(t *testing.T, what string, err error, id string) {
	t.Helper()
	var dup *novamed.DuplicateError
	if !errors.As(err, &dup) || dup.ExistingID != id {
		t.Errorf("%s: error %v does not name the existing record %s", what, err, id)
	}
}
