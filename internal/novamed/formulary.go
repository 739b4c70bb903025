package novamed

import (
	"fmt"
	"strconv"
	"strings"
)

// FormularyEntry is one medication a clinic may order. Orders are matched
// on Name only (FormularyKey); the strengths, unit and refrigeration say
// what NovaMed dispenses and are not checked against an order.
type FormularyEntry struct {
	Name           string   `json:"name"`
	Strengths      []string `json:"strengths"`
	UnitOfMeasure  string   `json:"unit_of_measure"`
	IsRefrigerated bool     `json:"is_refrigerated"`
}

// Formulary limits.
const (
	MaxFormularyEntries   = 5000
	maxFormularyStrengths = 50
)

// Formulary messages partners see.
const (
	MsgNoFormulary             = "Clinic has no formulary; NovaMed must import one before orders can be placed."
	MsgPractitionerNotActive   = "Practitioner is not active"
	msgMedicationNotFormulary  = "%s is not in the clinic's formulary (GET /api/external/medications lists it)."
	msgFormularyEntryInvalid   = "Formulary entry %d: a name of 1 to 200 characters is required, at most 50 strengths of 1 to 100 characters each, and a unit of at most 20."
	msgFormularyEntryDuplicate = "Formulary entry %d: %q appears twice (names match case-insensitively)."
)

// FormularyKey is the form in which medication names are matched: trimmed
// and case-folded, so "  semaglutide" matches "Semaglutide".
func FormularyKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// Normalize trims the entry's texts and drops empty strengths.
func (e FormularyEntry) Normalize() FormularyEntry {
	e.Name, e.UnitOfMeasure = strings.TrimSpace(e.Name), strings.TrimSpace(e.UnitOfMeasure)
	strengths := []string{}
	for _, s := range e.Strengths {
		if s = strings.TrimSpace(s); s != "" {
			strengths = append(strengths, s)
		}
	}
	e.Strengths = strengths
	return e
}

// ValidateFormulary checks operator-supplied entries (already normalized):
// names present and unique after FormularyKey, sizes bounded.
func ValidateFormulary(entries []FormularyEntry) error {
	if len(entries) > MaxFormularyEntries {
		return Errorf(CodeInvalid, "A formulary holds at most %d medications.", MaxFormularyEntries)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		ok := e.Name != "" && runeLen(e.Name) <= 200 && len(e.Strengths) <= maxFormularyStrengths && runeLen(e.UnitOfMeasure) <= 20
		for _, s := range e.Strengths {
			ok = ok && s != "" && runeLen(s) <= 100
		}
		if !ok {
			return Errorf(CodeInvalid, msgFormularyEntryInvalid, i+1)
		}
		k := FormularyKey(e.Name)
		if seen[k] {
			return Errorf(CodeInvalid, msgFormularyEntryDuplicate, i+1, e.Name)
		}
		seen[k] = true
	}
	return nil
}

// DevelopmentFormulary is the test formulary of a development clinic that
// has no entries of its own: every medication the published pages and this
// project's own tests, examples, docs and load programs order.
func DevelopmentFormulary() []FormularyEntry {
	return []FormularyEntry{
		{Name: "Aspirin", Strengths: []string{"81mg", "100mg", "325mg"}, UnitOfMeasure: "mg"},
		{Name: "Metformin", Strengths: []string{"500 mg", "850 mg", "1000 mg"}, UnitOfMeasure: "tablet"},
		{Name: "Semaglutide", Strengths: []string{"0.25 mg", "0.5 mg", "1 mg", "2 mg"}, UnitOfMeasure: "mg", IsRefrigerated: true},
		{Name: "Testosterone Cypionate", Strengths: []string{"200mg/ml"}, UnitOfMeasure: "mg"},
	}
}

// ClinicFormulary is the formulary that applies to a clinic: its own
// entries when it has any; otherwise, in development only, the
// DevelopmentFormulary (builtIn reports that). A production clinic without
// entries has none.
func ClinicFormulary(own []FormularyEntry, env Environment) (entries []FormularyEntry, builtIn bool) {
	if len(own) > 0 || env != Development {
		return own, false
	}
	return DevelopmentFormulary(), true
}

// CheckFormulary refuses an order whose lines name a medication outside
// formulary (the entries ClinicFormulary gives): every such line is a field
// problem of a VALIDATION_ERROR, and an empty formulary refuses every order.
func CheckFormulary(o *MedicationOrder, formulary []FormularyEntry) error {
	if len(formulary) == 0 {
		return &Error{Code: CodeInvalid, Message: MsgNoFormulary}
	}
	known := make(map[string]bool, len(formulary))
	for _, e := range formulary {
		known[FormularyKey(e.Name)] = true
	}
	var problems []FieldError
	for i, it := range o.Items {
		if !known[FormularyKey(it.Medication)] {
			field := "medication_requests[" + strconv.Itoa(i) + "].medication"
			problems = append(problems, FieldError{Field: field, Message: fmt.Sprintf(msgMedicationNotFormulary, field)})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return ValidationError(problems)
}

// CheckPrescriber refuses, in production, an order whose practitioner is
// not active: NovaMed has not verified the prescriber yet.
func CheckPrescriber(p *Practitioner, env Environment) error {
	if env == Production && p.Status != PractitionerActive {
		return ValidationError([]FieldError{{Field: "practitioner_id", Message: MsgPractitionerNotActive}})
	}
	return nil
}
