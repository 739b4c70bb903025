package storetest

import (
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

func testFormulary(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	list := func(f *fixture, clinic string) []novamed.FormularyEntry {
		f.t.Helper()
		got, err := f.s.ListFormulary(f.ctx, clinic)
		must(f.t, "ListFormulary", err)
		return got
	}
	semaglutide := novamed.FormularyEntry{Name: "Semaglutide", Strengths: []string{"0.25 mg", "0.5 mg"}, UnitOfMeasure: "mg", IsRefrigerated: true}
	metformin := novamed.FormularyEntry{Name: "Metformin", Strengths: []string{"500 mg"}, UnitOfMeasure: "tablet"}

	t.Run("EmptyByDefault", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("fresh")
		equal(t, "ListFormulary of a new clinic", list(f, c.ID), []novamed.FormularyEntry{})
	})

	t.Run("ReplaceListsInNameOrderNormalized", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("a"), f.clinic("b")
		messy := novamed.FormularyEntry{Name: "  Semaglutide ", Strengths: []string{" 0.25 mg", "", "0.5 mg "}, UnitOfMeasure: " mg", IsRefrigerated: true}
		must(t, "ReplaceFormulary", f.s.ReplaceFormulary(f.ctx, a.ID, []novamed.FormularyEntry{messy, metformin}))
		equal(t, "ListFormulary", list(f, a.ID), []novamed.FormularyEntry{metformin, semaglutide})
		equal(t, "ListFormulary of another clinic", list(f, b.ID), []novamed.FormularyEntry{})
		// A second import replaces the first entirely.
		must(t, "ReplaceFormulary again", f.s.ReplaceFormulary(f.ctx, a.ID, []novamed.FormularyEntry{metformin}))
		equal(t, "ListFormulary after a second import", list(f, a.ID), []novamed.FormularyEntry{metformin})
		// An empty import leaves the clinic without a formulary.
		must(t, "ReplaceFormulary empty", f.s.ReplaceFormulary(f.ctx, a.ID, nil))
		equal(t, "ListFormulary after an empty import", list(f, a.ID), []novamed.FormularyEntry{})
	})

	t.Run("SetAddsOrReplacesByName", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("c")
		must(t, "SetFormularyEntry", f.s.SetFormularyEntry(f.ctx, c.ID, semaglutide))
		must(t, "SetFormularyEntry", f.s.SetFormularyEntry(f.ctx, c.ID, metformin))
		changed := novamed.FormularyEntry{Name: "SEMAGLUTIDE", Strengths: []string{"1 mg"}, UnitOfMeasure: "mg"}
		must(t, "SetFormularyEntry same name", f.s.SetFormularyEntry(f.ctx, c.ID, changed))
		equal(t, "ListFormulary", list(f, c.ID), []novamed.FormularyEntry{metformin, changed})
	})

	t.Run("Remove", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("c")
		must(t, "ReplaceFormulary", f.s.ReplaceFormulary(f.ctx, c.ID, []novamed.FormularyEntry{semaglutide, metformin}))
		must(t, "RemoveFormularyEntry", f.s.RemoveFormularyEntry(f.ctx, c.ID, " semaGLUTIDE"))
		equal(t, "ListFormulary after remove", list(f, c.ID), []novamed.FormularyEntry{metformin})
		wantCode(t, "RemoveFormularyEntry again", f.s.RemoveFormularyEntry(f.ctx, c.ID, "Semaglutide"), novamed.CodeNotFound)
		equal(t, "ListFormulary after a refused remove", list(f, c.ID), []novamed.FormularyEntry{metformin})
	})

	t.Run("Refused", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("c")
		must(t, "ReplaceFormulary", f.s.ReplaceFormulary(f.ctx, c.ID, []novamed.FormularyEntry{metformin}))
		unknown := "00000000-0000-4000-8000-0000000000ff"
		wantCode(t, "ListFormulary unknown clinic", func() error { _, err := f.s.ListFormulary(f.ctx, unknown); return err }(), novamed.CodeClinicNotFound)
		wantCode(t, "ReplaceFormulary unknown clinic", f.s.ReplaceFormulary(f.ctx, unknown, []novamed.FormularyEntry{metformin}), novamed.CodeClinicNotFound)
		wantCode(t, "SetFormularyEntry unknown clinic", f.s.SetFormularyEntry(f.ctx, unknown, metformin), novamed.CodeClinicNotFound)
		wantCode(t, "RemoveFormularyEntry unknown clinic", f.s.RemoveFormularyEntry(f.ctx, unknown, "Metformin"), novamed.CodeClinicNotFound)
		for name, entries := range map[string][]novamed.FormularyEntry{
			"duplicate names": {semaglutide, {Name: "semaglutide "}},
			"no name":         {{Name: "  ", Strengths: []string{"1 mg"}}},
		} {
			wantCode(t, "ReplaceFormulary "+name, f.s.ReplaceFormulary(f.ctx, c.ID, entries), novamed.CodeInvalid)
		}
		wantCode(t, "SetFormularyEntry without a name", f.s.SetFormularyEntry(f.ctx, c.ID, novamed.FormularyEntry{}), novamed.CodeInvalid)
		// Nothing changed.
		equal(t, "ListFormulary after refused writes", list(f, c.ID), []novamed.FormularyEntry{metformin})
	})
}
