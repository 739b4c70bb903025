package storetest

import (
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

// customCatalogue is a valid catalogue unlike the default one: other ids in
// an order that is not sorted, a carrier without tracking template.
func customCatalogue() []novamed.Carrier {
	return []novamed.Carrier{
		{ID: "zz-courier", Name: "ZZ Courier ✓", Tracking: "https://zz.example/t?n={tracking}&x=\"y\"", Services: []novamed.CarrierService{
			{ID: "zz_next", Name: "ZZ Next Day", Speed: "next-day", BaseCostCents: 1234, RemoteSurchargeCents: 0, UnavailableStates: []string{"HI", "AK"}},
			{ID: "zz_ground", Name: "ZZ Ground", Speed: "business-day", BaseCostCents: 0, RemoteSurchargeCents: 99},
		}},
		{ID: "ameriship", Name: "Ameriship (renamed)", Services: []novamed.CarrierService{
			{ID: "ameriship_ground", Name: "Ground", Speed: "business-day", BaseCostCents: 1, RemoteSurchargeCents: 2, UnavailableStates: []string{"PR"}},
		}},
	}
}

func testCarriers(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	list := func(f *fixture) []novamed.Carrier {
		f.t.Helper()
		cs, err := f.s.ListCarriers(f.ctx)
		must(f.t, "ListCarriers", err)
		return cs
	}

	t.Run("Default", func(t *testing.T) {
		f := newFixture(t, newStore)
		equal(t, "ListCarriers of a fresh store", list(f), novamed.DefaultCatalogue())
		must(t, "ReplaceCarriers only if empty", f.s.ReplaceCarriers(f.ctx, customCatalogue(), true))
		equal(t, "ListCarriers after ReplaceCarriers only if empty", list(f), novamed.DefaultCatalogue())
	})

	t.Run("Replace", func(t *testing.T) {
		f := newFixture(t, newStore)
		must(t, "ReplaceCarriers", f.s.ReplaceCarriers(f.ctx, customCatalogue(), false))
		equal(t, "ListCarriers after ReplaceCarriers", list(f), customCatalogue())
		must(t, "ReplaceCarriers only if empty", f.s.ReplaceCarriers(f.ctx, novamed.DefaultCatalogue(), true))
		equal(t, "ListCarriers after ReplaceCarriers only if empty", list(f), customCatalogue())
		fewer := novamed.DefaultCatalogue()[2:]
		must(t, "ReplaceCarriers with fewer carriers", f.s.ReplaceCarriers(f.ctx, fewer, false))
		equal(t, "ListCarriers after ReplaceCarriers with fewer carriers", list(f), novamed.DefaultCatalogue()[2:])
	})

	t.Run("Invalid", func(t *testing.T) {
		f := newFixture(t, newStore)
		service := func(mut func(s *novamed.CarrierService)) []novamed.Carrier {
			cs := customCatalogue()
			mut(&cs[0].Services[0])
			return cs
		}
		cases := []struct {
			name string
			cs   []novamed.Carrier
		}{
			{"nil", nil},
			{"empty", []novamed.Carrier{}},
			{"carrier without id", func() []novamed.Carrier { cs := customCatalogue(); cs[1].ID = ""; return cs }()},
			{"carrier without name", func() []novamed.Carrier { cs := customCatalogue(); cs[1].Name = ""; return cs }()},
			{"duplicate carrier id", func() []novamed.Carrier { cs := customCatalogue(); cs[1].ID = cs[0].ID; return cs }()},
			{"service without id", service(func(s *novamed.CarrierService) { s.ID = "" })},
			{"service without name", service(func(s *novamed.CarrierService) { s.Name = "" })},
			{"duplicate service id", service(func(s *novamed.CarrierService) { s.ID = "zz_ground" })},
			{"unknown speed", service(func(s *novamed.CarrierService) { s.Speed = "same-day" })},
			{"no speed", service(func(s *novamed.CarrierService) { s.Speed = "" })},
			{"negative cost", service(func(s *novamed.CarrierService) { s.BaseCostCents = -1 })},
			{"negative surcharge", service(func(s *novamed.CarrierService) { s.RemoteSurchargeCents = -1 })},
			{"unknown state", service(func(s *novamed.CarrierService) { s.UnavailableStates = []string{"HI", "ZZ"} })},
		}
		for _, tc := range cases {
			wantCode(t, "ReplaceCarriers "+tc.name, f.s.ReplaceCarriers(f.ctx, tc.cs, false), novamed.CodeInvalid)
			equal(t, "ListCarriers after ReplaceCarriers "+tc.name, list(f), novamed.DefaultCatalogue())
		}
	})
}

func testFreeShipping(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	f := newFixture(t, newStore)
	a, b := f.clinic("A"), f.clinic("B")
	stored := func(c *novamed.Clinic, free bool) *novamed.Clinic {
		return &novamed.Clinic{ID: c.ID, Name: c.Name, FreeShipping: free, CreatedAt: norm(c.CreatedAt)}
	}
	for _, step := range []bool{true, true, false, false, true} {
		got, err := f.s.SetClinicFreeShipping(f.ctx, a.ID, step)
		what := "SetClinicFreeShipping " + map[bool]string{true: "on", false: "off"}[step]
		must(t, what, err)
		equal(t, what, got, stored(a, step))
		gotA, err := f.s.GetClinic(f.ctx, a.ID)
		must(t, "GetClinic", err)
		equal(t, what+": GetClinic", gotA, stored(a, step))
		all, err := f.s.ListClinics(f.ctx)
		must(t, "ListClinics", err)
		equal(t, what+": ListClinics", all, []*novamed.Clinic{stored(a, step), stored(b, false)})
	}
	got, err := f.s.SetClinicFreeShipping(f.ctx, unknownID, true)
	wantCode(t, "SetClinicFreeShipping of an unknown clinic", err, novamed.CodeClinicNotFound)
	if got != nil {
		t.Errorf("SetClinicFreeShipping of an unknown clinic: got %+v, want nil", got)
	}
}

func testActivation(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	f := newFixture(t, newStore)
	a, b := f.clinic("A"), f.clinic("B")
	create := func(p *novamed.Practitioner, status string) *novamed.Practitioner {
		t.Helper()
		p.Status = status
		w := storedPractitioner(p)
		must(t, "CreatePractitioner", f.s.CreatePractitioner(f.ctx, p, novamed.Effects{}))
		return w
	}
	pending := func() []string {
		t.Helper()
		ids, err := f.s.PendingPractitioners(f.ctx, 100)
		must(t, "PendingPractitioners", err)
		return ids
	}
	p1 := create(f.fullPractitioner(a.ID), novamed.PractitionerPending)
	p2 := create(f.minimalPractitioner(b.ID), novamed.PractitionerPending)
	active := create(f.fullPractitioner(a.ID), novamed.PractitionerActive)
	p3 := create(f.minimalPractitioner(a.ID), novamed.PractitionerPending)

	// Pending practitioners of every clinic, oldest first.
	equal(t, "PendingPractitioners", pending(), []string{p1.ID, p2.ID, p3.ID})
	two, err := f.s.PendingPractitioners(f.ctx, 2)
	must(t, "PendingPractitioners limit 2", err)
	equal(t, "PendingPractitioners limit 2", two, []string{p1.ID, p2.ID})

	got, ev, err := f.s.ActivatePractitioner(f.ctx, p1.ID)
	must(t, "ActivatePractitioner", err)
	want := *p1
	want.Status = novamed.PractitionerActive
	equal(t, "ActivatePractitioner", got, &want)
	got, err = f.s.GetPractitioner(f.ctx, p1.ID, []string{a.ID})
	must(t, "GetPractitioner", err)
	equal(t, "GetPractitioner after activation", got, &want)
	if ev == nil {
		t.Fatal("ActivatePractitioner: got no event")
	}
	equal(t, "event name", ev.Name, novamed.EventPractitionerActivated)
	equal(t, "event clinic", ev.ClinicID, a.ID)
	wantNormalised(t, "event created_at", ev.CreatedAt)
	data := map[string]any{"practitioner_id": p1.ID, "practitioner_name": p1.FirstName + " " + p1.LastName,
		"practitioner_email": p1.Email, "practitioner_phone": p1.Phone, "practitioner_npi": p1.NPI,
		"practitioner_status": novamed.PractitionerActive}
	wantData(t, "event", ev.Data, data)
	evs := f.events(a.ID)
	if equal(t, "events", len(evs), 1) {
		sameEvent(t, "listed event", evs[0], ev)
		wantData(t, "listed event", evs[0].Data, data)
	}
	equal(t, "PendingPractitioners after activation", pending(), []string{p2.ID, p3.ID})

	// Activating an active practitioner changes nothing.
	for _, p := range []*novamed.Practitioner{&want, active} {
		got, ev, err := f.s.ActivatePractitioner(f.ctx, p.ID)
		must(t, "ActivatePractitioner of an active practitioner", err)
		equal(t, "ActivatePractitioner of an active practitioner", got, p)
		if ev != nil {
			t.Errorf("ActivatePractitioner of an active practitioner: got event %s, want nil", ev.Name)
		}
	}
	equal(t, "events after activating active practitioners", eventIDs(f.events(a.ID)), eventIDs(evs))

	_, _, err = f.s.ActivatePractitioner(f.ctx, unknownID)
	wantCode(t, "ActivatePractitioner of an unknown practitioner", err, novamed.CodeNotFound)

	for _, p := range []*novamed.Practitioner{p2, p3} {
		_, ev, err := f.s.ActivatePractitioner(f.ctx, p.ID)
		must(t, "ActivatePractitioner", err)
		if ev == nil {
			t.Errorf("ActivatePractitioner %s: got no event", p.ID)
		}
	}
	if ids := pending(); len(ids) != 0 {
		t.Errorf("PendingPractitioners after activating all: got %q, want none", ids)
	}
	equal(t, "events of clinic B", len(f.events(b.ID)), 1)
	equal(t, "events of clinic A", len(f.events(a.ID)), 2)
}
