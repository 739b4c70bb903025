package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// newID returns a UUIDv7: time-ordered, so ids double as list cursors.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// clinicOf reads and authorizes the clinic of a create body. An unknown
// clinic and another partner's clinic get the same answer.
func clinicOf(in *novamed.Input, key *novamed.APIKey) (string, error) {
	id, err := novamed.ReadClinicID(in)
	if err != nil {
		return "", err
	}
	if !key.HasClinic(id) {
		return "", novamed.ErrClinicNotFound()
	}
	return id, nil
}

// create commits a write whose answer is data, with the request's audit
// record (naming f) and idempotent answer in the same transaction. The
// reply's facts are the record's as committed (the store may add what only
// the write learns, e.g. a refill's clinic).
func (s *Server) create(w http.ResponseWriter, r *http.Request, st *reqState, f facts, data any, message string,
	write func(eff novamed.Effects) error) (reply, error) {
	if err := s.acceptFields(w, r, st); err != nil {
		return f.fail(err)
	}
	body, err := marshalSuccess(data, message)
	if err != nil {
		return f.fail(err)
	}
	rec := s.auditRecord(r, st, f, http.StatusOK)
	eff := novamed.Effects{Audit: rec}
	if st.idem != nil {
		eff.Idempotency = st.idemRecord(f, http.StatusOK, body, s.now())
	}
	if err := write(eff); err != nil {
		return f.fail(err)
	}
	st.idem = nil
	return reply{facts: touched(rec.ClinicID, rec.ResourceIDs...), status: http.StatusOK, body: body, recorded: true}, nil
}

// listFilter reads limit, cursor and clinic_id of a list request.
func listFilter(r *http.Request, key *novamed.APIKey) (novamed.ListFilter, error) {
	q := r.URL.Query()
	f := novamed.ListFilter{Limit: 25, Clinics: key.Clinics}
	var problems []novamed.FieldError
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problems = append(problems, novamed.FieldError{Field: "limit", Message: "limit must be a whole number from 1 to 100."})
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if !novamed.IsUUID(v) {
			problems = append(problems, novamed.FieldError{Field: "cursor", Message: "cursor must be the next_cursor of a previous page."})
		}
		f.Cursor = strings.ToLower(v)
	}
	if len(problems) > 0 {
		return f, novamed.ValidationError(problems)
	}
	if v := q.Get("clinic_id"); v != "" {
		if !novamed.IsUUID(v) {
			return f, &novamed.Error{Code: novamed.CodeInvalidClinicID, Message: novamed.MsgInvalidClinicID}
		}
		v = strings.ToLower(v)
		if !key.HasClinic(v) {
			return f, novamed.ErrClinicNotFound()
		}
		f.Clinics = []string{v}
	}
	return f, nil
}

type pageJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func page[T any](items []T, next string) pageJSON[T] {
	p := pageJSON[T]{Items: items}
	if next != "" {
		p.NextCursor = &next
	}
	return p
}

// pathID reads the {id} of a path; anything not a UUID cannot name a
// resource, so it gets the same 404 as an unknown id.
func pathID(r *http.Request, resource string) (string, error) {
	id := r.PathValue("id")
	if !novamed.IsUUID(id) {
		return "", novamed.NotFound(resource)
	}
	return strings.ToLower(id), nil
}

func isConflict(err error) bool { return errors.Is(err, novamed.ErrConflict) }

// duplicate turns a create's conflict into the partner's DUPLICATE answer,
// with error.details.existing_id naming the record already stored (contract
// §8) so the partner can carry on with it; other errors pass unchanged.
func duplicate(err error, answer *novamed.Error) error {
	if !isConflict(err) {
		return err
	}
	var dup *novamed.DuplicateError
	if errors.As(err, &dup) && dup.ExistingID != "" {
		answer.Details = map[string]any{"existing_id": dup.ExistingID}
	}
	return answer
}

// listed answers a list request: the caller's filter (limit, cursor,
// clinic_id), one page from fetch, each item shown by view, which also
// names the item's id for the audit record.
func listed[T, V any](s *Server, st *reqState, r *http.Request,
	fetch func(novamed.ListFilter) ([]T, string, error), view func(T) (V, string)) (reply, error) {
	f, err := listFilter(r, st.key)
	if err != nil {
		return reply{}, err
	}
	items, next, err := fetch(f)
	if err != nil {
		return reply{}, err
	}
	out := make([]V, len(items))
	var ids []string
	for i, it := range items {
		var id string
		out[i], id = view(it)
		ids = append(ids, id)
	}
	return s.ok(touched("", ids...), page(out, next), "")
}

// shown answers a read of one resource by its path id, within the caller's
// clinics ("unknown" and "not yours" are the same 404); view gives the
// answer and the resource's clinic for the audit record.
func shown[T, V any](s *Server, st *reqState, r *http.Request, resource string,
	fetch func(ctx context.Context, id string, clinics []string) (T, error), view func(T) (V, string)) (reply, error) {
	id, err := pathID(r, resource)
	if err != nil {
		return reply{}, err
	}
	item, err := fetch(r.Context(), id, st.key.Clinics)
	if err != nil {
		return reply{}, err
	}
	v, clinic := view(item)
	return s.ok(touched(clinic, id), v, "")
}
