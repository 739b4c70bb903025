package httpapi

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Headers of the unknown-field answers (RFC 7240 for the preference).
const (
	headerIgnoredFields     = "NovaMed-Ignored-Fields"
	headerPreferenceApplied = "Preference-Applied"
)

// preferStrict reports whether the request asks, in its Prefer header, for
// handling=strict (RFC 7240 §4.4): a body with fields the API does not
// know is refused instead of accepted without them.
func preferStrict(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if i := strings.IndexByte(val, ';'); i >= 0 {
				val = val[:i]
			}
			if strings.EqualFold(strings.TrimSpace(name), "handling") &&
				strings.EqualFold(strings.Trim(strings.TrimSpace(val), `"`), "strict") {
				return true
			}
		}
	}
	return false
}

// headerSafeField writes a field name for a header: printable ASCII but
// for the list's comma, anything else percent-encoded, at most 100 bytes.
func headerSafeField(f string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(f) && b.Len() < 100; i++ {
		c := f[i]
		if c > 0x20 && c < 0x7f && c != ',' && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// acceptFields is the unknown-field policy of a write about to commit:
// fields of the body that nothing read are named in NovaMed-Ignored-Fields
// and kept among the key's recent warnings, or, when the request prefers
// handling=strict, refused (400 VALIDATION_ERROR, one entry per field)
// before anything is written.
func (s *Server) acceptFields(w http.ResponseWriter, r *http.Request, st *reqState) error {
	strict := preferStrict(r)
	if strict {
		w.Header().Set(headerPreferenceApplied, "handling=strict")
	}
	if st.input == nil {
		return nil
	}
	ignored := st.input.Ignored()
	if len(ignored) == 0 {
		return nil
	}
	if strict {
		return novamed.ValidationError(unknownFieldErrors(ignored))
	}
	safe := make([]string, len(ignored))
	for i, f := range ignored {
		safe[i] = headerSafeField(f)
	}
	w.Header().Set(headerIgnoredFields, strings.Join(safe, ", "))
	if st.key != nil {
		s.warnings.add(st.key.Owner, Warning{
			Time: s.now().UTC().Truncate(time.Second), RequestID: st.requestID, Route: r.Method + " " + routeOf(r),
			Code: "IGNORED_FIELDS", Fields: safe,
		})
	}
	return nil
}

func routeOf(r *http.Request) string {
	if _, p, ok := strings.Cut(r.Pattern, " "); ok {
		return p
	}
	return r.URL.Path
}

func unknownFieldErrors(fields []string) []novamed.FieldError {
	out := make([]novamed.FieldError, len(fields))
	for i, f := range fields {
		out[i] = novamed.FieldError{Field: f, Message: f + " is not a field of this request (Prefer: handling=strict refuses unknown fields)."}
	}
	return out
}

// withIgnoredFields adds, under handling=strict, the unknown fields of the
// body to a validation error found first, so that one answer names every
// problem; other errors pass unchanged.
func (s *Server) withIgnoredFields(w http.ResponseWriter, r *http.Request, err error) error {
	st := stateOf(r)
	if st.input == nil || !preferStrict(r) {
		return err
	}
	w.Header().Set(headerPreferenceApplied, "handling=strict")
	var e *novamed.Error
	if !errors.As(err, &e) || e.Code != novamed.CodeInvalid {
		return err
	}
	out := *e
	out.Fields = append([]novamed.FieldError(nil), e.Fields...)
	for _, f := range unknownFieldErrors(st.input.Ignored()) {
		if !slices.Contains(e.Fields, f) {
			out.Fields = append(out.Fields, f)
		}
	}
	return &out
}

// Warning is one recent warning about a key's requests (an ignored field).
type Warning struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Route     string    `json:"route"`
	Code      string    `json:"code"`
	Fields    []string  `json:"fields"`
}

// maxWarnings is how many recent warnings are kept per key lineage.
const maxWarnings = 20

// warningLog keeps the latest warnings of each key lineage in this process.
type warningLog struct {
	mu   sync.Mutex
	byID map[string][]Warning
}

func (l *warningLog) add(owner string, w Warning) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[string][]Warning{}
	}
	ws := append(l.byID[owner], w)
	if len(ws) > maxWarnings {
		ws = append([]Warning(nil), ws[len(ws)-maxWarnings:]...)
	}
	l.byID[owner] = ws
}

// recent returns owner's warnings, newest first.
func (l *warningLog) recent(owner string) []Warning {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.byID[owner]
	out := make([]Warning, len(ws))
	for i, w := range ws {
		out[len(ws)-1-i] = w
	}
	return out
}

// readPatch reads a merge-patch body (size-limited like any body).
func readPatch(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTooLarge
		}
		return nil, &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "The request body could not be read."}
	}
	return body, nil
}

// updatePatient applies a JSON merge patch to a patient of the caller's
// clinics, checked with the same rules as a create.
func (s *Server) updatePatient(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	id, err := pathID(r, "Patient")
	if err != nil {
		return reply{}, err
	}
	f := touched("", id)
	body, err := readPatch(r)
	if err != nil {
		return f.fail(err)
	}
	stored, err := s.store.GetPatient(r.Context(), id, st.key.Clinics)
	if err != nil {
		return f.fail(err)
	}
	f.clinicID = stored.ClinicID
	p, in, err := novamed.PatchPatient(stored, body, s.env == novamed.Production, s.now())
	if err != nil {
		return f.fail(err)
	}
	st.input = in
	if err := in.Err(); err != nil {
		return f.fail(err)
	}
	rep, err := s.create(w, r, st, f, patientJSON{p.ID, p}, "Patient updated successfully",
		func(eff novamed.Effects) error {
			_, err := s.store.UpdatePatient(r.Context(), p, eff)
			return err
		})
	return rep, duplicate(err, &novamed.Error{Code: novamed.CodeDuplicate, Message: "A patient with the same name and date of birth already exists in this clinic."})
}

// updatePractitioner applies a JSON merge patch to a practitioner of the
// caller's clinics, checked with the same rules as a create.
func (s *Server) updatePractitioner(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	id, err := pathID(r, "Practitioner")
	if err != nil {
		return reply{}, err
	}
	f := touched("", id)
	body, err := readPatch(r)
	if err != nil {
		return f.fail(err)
	}
	stored, err := s.store.GetPractitioner(r.Context(), id, st.key.Clinics)
	if err != nil {
		return f.fail(err)
	}
	f.clinicID = stored.ClinicID
	p, in, err := novamed.PatchPractitioner(stored, body, s.env == novamed.Production)
	if err != nil {
		return f.fail(err)
	}
	st.input = in
	if err := in.Err(); err != nil {
		return f.fail(err)
	}
	rep, err := s.create(w, r, st, f, practitionerJSON{p.ID, p}, "Practitioner updated successfully",
		func(eff novamed.Effects) error {
			_, err := s.store.UpdatePractitioner(r.Context(), p, eff)
			return err
		})
	return rep, duplicate(err, &novamed.Error{Code: novamed.CodeDuplicate, Message: "A practitioner with this NPI already exists in this clinic.",
		Fields: []novamed.FieldError{{Field: "npi", Message: "A practitioner with this NPI already exists in this clinic."}}})
}

// cancelOrder is the partner's cancellation of an order not yet submitted
// to the pharmacy (created or verified), with a reason.
func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	id, err := pathID(r, "Medication order")
	if err != nil {
		return reply{}, err
	}
	f := touched("", id)
	in, err := readInput(r)
	if err != nil {
		return f.fail(err)
	}
	reason := in.String(novamed.ShipmentReasonMax, false, "reason")
	if err := in.Err(); err != nil {
		return f.fail(err)
	}
	if reason, err = novamed.CheckCancelReason(reason); err != nil {
		return f.fail(err)
	}
	o, err := s.store.GetMedicationOrder(r.Context(), id, st.key.Clinics)
	if err != nil {
		return f.fail(err)
	}
	f.clinicID = o.ClinicID
	now := s.now().UTC().Truncate(time.Microsecond)
	from := o.Status
	if _, err := o.CancelByPartner(reason, now); err != nil {
		return f.fail(err)
	}
	return s.create(w, r, st, f, toOrderJSON(o), "Medication order cancelled",
		func(eff novamed.Effects) error {
			_, _, err := s.store.CancelOrder(r.Context(), id, from, reason, now, eff)
			return err
		})
}
