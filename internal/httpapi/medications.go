package httpapi

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
)

// formulary returns the formulary that applies to a clinic's orders: its
// own entries or, in development, the built-in test formulary.
func (s *Server) formulary(r *http.Request, clinic string) ([]novamed.FormularyEntry, bool, error) {
	own, err := s.store.ListFormulary(r.Context(), clinic)
	if err != nil {
		return nil, false, err
	}
	entries, builtIn := novamed.ClinicFormulary(own, s.env)
	return entries, builtIn, nil
}

// listMedications answers GET /api/external/medications?clinic_id=: the
// clinic's formulary in name order, in the list envelope. The cursor is
// the opaque (base64url) matching key of the previous page's last entry.
func (s *Server) listMedications(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	q := r.URL.Query()
	limit, after := 25, ""
	var problems []novamed.FieldError
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problems = append(problems, novamed.FieldError{Field: "limit", Message: "limit must be a whole number from 1 to 100."})
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			problems = append(problems, novamed.FieldError{Field: "cursor", Message: "cursor must be the next_cursor of a previous page."})
		}
		after = string(b)
	}
	if len(problems) > 0 {
		return reply{}, novamed.ValidationError(problems)
	}
	clinic := q.Get("clinic_id")
	switch {
	case clinic == "":
		return reply{}, novamed.ValidationError([]novamed.FieldError{{Field: "clinic_id", Message: "clinic_id is required."}})
	case !novamed.IsUUID(clinic):
		return reply{}, &novamed.Error{Code: novamed.CodeInvalidClinicID, Message: novamed.MsgInvalidClinicID}
	}
	clinic = strings.ToLower(clinic)
	if !st.key.HasClinic(clinic) {
		return reply{}, novamed.ErrClinicNotFound()
	}
	f := touched(clinic)
	entries, _, err := s.formulary(r, clinic)
	if err != nil {
		return f.fail(err)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		return novamed.FormularyKey(entries[i].Name) < novamed.FormularyKey(entries[j].Name)
	})
	start := sort.Search(len(entries), func(i int) bool { return novamed.FormularyKey(entries[i].Name) > after })
	items := entries[start:]
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(novamed.FormularyKey(items[limit-1].Name)))
	}
	return s.ok(f, page(items, next), "")
}
