package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
)

type carriersData struct {
	Carriers []novamed.Carrier
}

// carriers shows the carrier catalogue: each carrier's services, speeds,
// prices and the states they do not serve.
func (c *Console) carriers(q *req) error {
	cs, err := c.cfg.Store.ListCarriers(q.r.Context())
	if err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "carriers", c.newView(q.r, q.s, "Carrier catalogue", &carriersData{Carriers: cs}))
	return nil
}

// cents renders a price in cents as dollars.
func cents(n int) string {
	return "$" + strconv.Itoa(n/100) + "." + strconv.Itoa(n%100/10) + strconv.Itoa(n%10)
}

type formularyData struct {
	Clinic     *novamed.Clinic
	Clinics    []*novamed.Clinic
	Items      []novamed.FormularyEntry
	BuiltIn    bool
	Total      int
	Prev, Next string
	CanChange  bool
	Form       map[string]string
	Errors     map[string]string
}

// formulary shows one clinic's formulary (chosen from the list of
// clinics), a page at a time, with the add and remove forms for roles
// that may change it.
func (c *Console) formulary(q *req) error {
	d, err := c.loadFormulary(q, strings.ToLower(strings.TrimSpace(q.r.URL.Query().Get("clinic"))))
	if err != nil {
		return err
	}
	v := c.newView(q.r, q.s, "Formulary", d)
	switch q.r.URL.Query().Get("done") {
	case "set":
		v.Notice = "Medication saved in the formulary."
	case "removed":
		v.Notice = "Medication removed from the formulary."
	}
	status := http.StatusOK
	if d.Errors["clinic"] != "" {
		status = http.StatusNotFound
	}
	c.render(q.w, q.r, status, "formulary", v)
	return nil
}

func (c *Console) loadFormulary(q *req, clinic string) (*formularyData, error) {
	ctx := q.r.Context()
	cs, _, _, err := c.clinics(ctx)
	if err != nil {
		return nil, err
	}
	d := &formularyData{Clinics: cs, CanChange: c.cfg.Accounts.Can(q.s.op.Role, CapChange), Form: map[string]string{}, Errors: map[string]string{}}
	for _, cl := range cs {
		if cl.ID == clinic {
			d.Clinic = cl
		}
	}
	if clinic == "" {
		return d, nil
	}
	if d.Clinic == nil {
		d.Errors["clinic"] = "No clinic has that id."
		return d, nil
	}
	own, err := c.cfg.Store.ListFormulary(ctx, clinic)
	if err != nil {
		return nil, err
	}
	all, builtIn := novamed.ClinicFormulary(own, c.cfg.Env)
	d.BuiltIn, d.Total = builtIn, len(all)
	offset, _ := strconv.Atoi(q.r.URL.Query().Get("offset"))
	offset = max(0, min(offset, len(all)))
	end := min(offset+pageSize, len(all))
	d.Items = all[offset:end]
	page := func(o int) string {
		return Prefix + "/formulary?" + url.Values{"clinic": {clinic}, "offset": {strconv.Itoa(o)}}.Encode()
	}
	if offset > 0 {
		d.Prev = page(max(0, offset-pageSize))
	}
	if end < len(all) {
		d.Next = page(end)
	}
	return d, nil
}

// formularyForm runs a formulary change: audited as the operator; a
// validation error is shown beside its field with nothing changed.
func (c *Console) formularyForm(q *req, action, done string, fields []string, act func(clinic string) error) error {
	clinic := strings.ToLower(q.r.PathValue("clinic"))
	err := act(clinic)
	status := http.StatusOK
	if err != nil {
		status = statusOf(novamed.ErrorCode(err))
	}
	if aerr := c.audit(q.r.Context(), q, action, "formulary", clinic, status, clinic); aerr != nil {
		return aerr
	}
	if msg, ok := invalid(err); ok {
		d, lerr := c.loadFormulary(q, clinic)
		if lerr != nil {
			return lerr
		}
		if d.Clinic == nil {
			return novamed.NotFound("Clinic")
		}
		d.Errors[refill(q.r, d.Form, fields, msg)] = msg
		c.render(q.w, q.r, status, "formulary", c.newView(q.r, q.s, "Formulary", d))
		return nil
	}
	if err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/formulary?"+url.Values{"clinic": {clinic}, "done": {done}}.Encode())
	return nil
}

// setFormularyEntry adds a medication to a clinic's formulary (or replaces
// the one with the same name), checked by the same rules as an import.
func (c *Console) setFormularyEntry(q *req) error {
	f := q.r.PostFormValue
	return c.formularyForm(q, "formulary.set", "set", []string{"medication", "strengths", "unit"}, func(clinic string) error {
		e := novamed.FormularyEntry{Name: f("medication"), Strengths: strings.Split(f("strengths"), ","), UnitOfMeasure: f("unit"),
			IsRefrigerated: f("refrigerated") == "on"}.Normalize()
		if e.Name == "" {
			return novamed.Errorf(novamed.CodeInvalid, "Enter the medication's name.")
		}
		if err := novamed.ValidateFormulary([]novamed.FormularyEntry{e}); err != nil {
			return novamed.Errorf(novamed.CodeInvalid, "The medication's name (at most 200 characters), strengths (at most 50, each up to 100 characters) or unit (up to 20) is too long.")
		}
		return c.cfg.Store.SetFormularyEntry(q.r.Context(), clinic, e)
	})
}

// removeFormularyEntry takes a medication out of a clinic's formulary.
func (c *Console) removeFormularyEntry(q *req) error {
	return c.formularyForm(q, "formulary.remove", "removed", []string{"remove"}, func(clinic string) error {
		name := strings.TrimSpace(q.r.PostFormValue("medication"))
		if name == "" {
			return novamed.Errorf(novamed.CodeInvalid, "Choose the medication to remove.")
		}
		err := c.cfg.Store.RemoveFormularyEntry(q.r.Context(), clinic, name)
		if novamed.ErrorCode(err) == novamed.CodeNotFound {
			return novamed.Errorf(novamed.CodeInvalid, "%s is not in this clinic's own formulary.", name)
		}
		return err
	})
}
