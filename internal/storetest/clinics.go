package storetest

import (
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func testClinics(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := &novamed.Clinic{ID: "0195a1f0-0000-7000-8000-000000000001", Name: "Höhe Clinic \"North\"", CreatedAt: base}
		must(t, "CreateClinic", f.s.CreateClinic(f.ctx, c))
		got, err := f.s.GetClinic(f.ctx, c.ID)
		must(t, "GetClinic", err)
		equal(t, "GetClinic", got, &novamed.Clinic{ID: c.ID, Name: c.Name, CreatedAt: norm(base)})
	})

	t.Run("ListEmpty", func(t *testing.T) {
		f := newFixture(t, newStore)
		got, err := f.s.ListClinics(f.ctx)
		must(t, "ListClinics", err)
		equal(t, "ListClinics", got, []*novamed.Clinic{})
	})

	t.Run("ListOldestFirst", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Created out of order; two share a creation time and sort by id.
		a := &novamed.Clinic{ID: "00000000-0000-4000-8000-00000000000a", Name: "A", CreatedAt: at(2 * time.Hour)}
		b := &novamed.Clinic{ID: "00000000-0000-4000-8000-00000000000b", Name: "B", CreatedAt: at(time.Hour)}
		c := &novamed.Clinic{ID: "00000000-0000-4000-8000-00000000000c", Name: "C", CreatedAt: at(0)}
		d := &novamed.Clinic{ID: "00000000-0000-4000-8000-000000000009", Name: "D", CreatedAt: at(time.Hour)}
		for _, x := range []*novamed.Clinic{a, b, c, d} {
			must(t, "CreateClinic "+x.Name, f.s.CreateClinic(f.ctx, x))
		}
		got, err := f.s.ListClinics(f.ctx)
		must(t, "ListClinics", err)
		var want []*novamed.Clinic
		for _, x := range []*novamed.Clinic{c, d, b, a} {
			want = append(want, &novamed.Clinic{ID: x.ID, Name: x.Name, CreatedAt: norm(x.CreatedAt)})
		}
		equal(t, "ListClinics", got, want)
	})

	t.Run("GetUnknown", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.clinic("known")
		got, err := f.s.GetClinic(f.ctx, "00000000-0000-4000-8000-0000000000ff")
		wantCode(t, "GetClinic unknown", err, novamed.CodeClinicNotFound)
		if got != nil {
			t.Errorf("GetClinic unknown: got %+v, want nil", got)
		}
	})

	t.Run("DuplicateID", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("first")
		err := f.s.CreateClinic(f.ctx, &novamed.Clinic{ID: c.ID, Name: "second", CreatedAt: at(time.Hour)})
		wantIs(t, "CreateClinic duplicate id", err, novamed.ErrConflict)
		got, err := f.s.GetClinic(f.ctx, c.ID)
		must(t, "GetClinic", err)
		equal(t, "GetClinic after duplicate", got, &novamed.Clinic{ID: c.ID, Name: "first", CreatedAt: norm(c.CreatedAt)})
		list, err := f.s.ListClinics(f.ctx)
		must(t, "ListClinics", err)
		if len(list) != 1 {
			t.Errorf("ListClinics after duplicate: got %d clinics, want 1", len(list))
		}
	})
}
