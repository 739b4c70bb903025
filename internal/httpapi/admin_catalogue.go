package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// The admin routes of the carrier catalogue, clinics' formularies and
// events, webhook secrets and the order search (issue 22). Each answers
// what the matching `novamed …` command prints with --json, and takes the
// body its import reads.

// DecodeFormularyImport reads a formulary import ({"medications": […]},
// as `formulary list --json` prints it; clinic_id and source are allowed
// and ignored): an empty list removes the clinic's formulary, a missing
// one is refused.
func DecodeFormularyImport(r io.Reader) ([]novamed.FormularyEntry, error) {
	var doc AdminFormulary
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "Not a formulary ({\"medications\": […]}): " + jsonProblem(err)}
	}
	if doc.Medications == nil {
		return nil, novamed.Errorf(novamed.CodeInvalid, `No "medications" list (an empty list [] removes the clinic's formulary).`)
	}
	return doc.Medications, nil
}

// DecodeCarriersImport reads a catalogue import ({"carriers": […]}, as
// `carriers list --json` prints it).
func DecodeCarriersImport(r io.Reader) ([]novamed.Carrier, error) {
	var doc struct {
		Carriers []novamed.Carrier `json:"carriers"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "Not a carrier catalogue ({\"carriers\": […]}): " + jsonProblem(err)}
	}
	if doc.Carriers == nil {
		return nil, novamed.Errorf(novamed.CodeInvalid, `No "carriers" list.`)
	}
	return doc.Carriers, nil
}

// adminBody reads a whole request body (bounded by the stack's limit).
func adminBody(c *adminCall) ([]byte, error) {
	b, err := io.ReadAll(c.r.Body)
	if err != nil {
		return nil, &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "The request body could not be read."}
	}
	return b, nil
}

func (s *Server) adminCarriersReplace(c *adminCall) (any, facts, bool, error) {
	b, err := adminBody(c)
	if err != nil {
		return nil, facts{}, false, err
	}
	cs, err := DecodeCarriersImport(bytes.NewReader(b))
	if err != nil {
		return nil, facts{}, false, err
	}
	ids := make([]string, len(cs))
	for i, cr := range cs {
		ids[i] = cr.ID
	}
	if err := s.admin.ReplaceCarriers(c.r.Context(), cs, false); err != nil {
		return nil, touched("", ids...), false, err
	}
	s.carrierCache.mu.Lock()
	s.carrierCache.list, s.carrierCache.body = nil, nil // this replica at once; others within carrierTTL
	s.carrierCache.mu.Unlock()
	return map[string]any{"carriers": len(cs)}, touched("", ids...), false, nil
}

// adminClinic reads the path's clinic {id}: 404 when there is none.
func (s *Server) adminClinic(c *adminCall) (string, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	if !novamed.IsUUID(id) {
		return id, novamed.NotFound("Clinic")
	}
	_, err := s.admin.GetClinic(c.r.Context(), id)
	var e *novamed.Error
	if errors.As(err, &e) && e.Code == novamed.CodeClinicNotFound {
		return id, novamed.NotFound("Clinic") // a path names a resource: 404, not the partner API's 400
	}
	return id, err
}

func (s *Server) adminFormularyReplace(c *adminCall) (any, facts, bool, error) {
	id, err := s.adminClinic(c)
	if err != nil {
		return nil, touched(id), false, err
	}
	b, err := adminBody(c)
	if err != nil {
		return nil, touched(id), false, err
	}
	meds, err := DecodeFormularyImport(bytes.NewReader(b))
	if err != nil {
		return nil, touched(id), false, err
	}
	if err := s.admin.ReplaceFormulary(c.r.Context(), id, meds); err != nil {
		return nil, touched(id), false, err
	}
	return map[string]any{"clinic_id": id, "medications": len(meds)}, touched(id, id), false, nil
}

func (s *Server) adminFormularySet(c *adminCall) (any, facts, bool, error) {
	id, err := s.adminClinic(c)
	if err != nil {
		return nil, touched(id), false, err
	}
	var in novamed.FormularyEntry
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched(id), false, err
	}
	e := in.Normalize()
	if e.Name == "" {
		return nil, touched(id), false, novamed.Errorf(novamed.CodeInvalid, "name is required.")
	}
	if err := s.admin.SetFormularyEntry(c.r.Context(), id, e); err != nil {
		return nil, touched(id), false, err
	}
	return map[string]any{"clinic_id": id, "medication": e}, touched(id, id), false, nil
}

func (s *Server) adminFormularyRemove(c *adminCall) (any, facts, bool, error) {
	id, err := s.adminClinic(c)
	if err != nil {
		return nil, touched(id), false, err
	}
	name := strings.TrimSpace(c.r.PathValue("name"))
	if name == "" {
		return nil, touched(id), false, novamed.Errorf(novamed.CodeInvalid, "The medication name is required.")
	}
	if err := s.admin.RemoveFormularyEntry(c.r.Context(), id, name); err != nil {
		return nil, touched(id), false, err
	}
	return map[string]any{"clinic_id": id, "removed": name}, touched(id, id), false, nil
}

// adminClinicEvents lists a clinic's outbox events, oldest first, after
// an event id (?after=) and at most ?limit= (1–1000, default 100).
func (s *Server) adminClinicEvents(c *adminCall) (any, facts, bool, error) {
	id, err := s.adminClinic(c)
	if err != nil {
		return nil, touched(id), false, err
	}
	q := c.r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, touched(id), false, novamed.Errorf(novamed.CodeInvalid, "limit is 1 to 1000.")
		}
		limit = n
	}
	ctx := c.r.Context()
	after := q.Get("after")
	if after != "" {
		ok, err := s.admin.Exists(ctx, "event", after, id)
		if err != nil {
			return nil, touched(id), false, err
		}
		if !ok {
			return nil, touched(id), false, novamed.Errorf(novamed.CodeInvalid, "after names no event of this clinic.")
		}
	}
	evs, err := s.admin.ListEvents(ctx, id, after, limit)
	if err != nil {
		return nil, touched(id), false, err
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return map[string]any{"events": evs}, touched(id, ids...), false, nil
}

// AdminWebhookRotation is what `novamed webhooks rotate --json` prints and
// POST /api/admin/webhooks/{id}/rotate answers: the new secrets, once.
type AdminWebhookRotation struct {
	WebhookID         string     `json:"webhook_id"`
	ClinicID          string     `json:"clinic_id"`
	VerificationToken string     `json:"verification_token"`
	SigningSecret     string     `json:"signing_secret"`
	OverlapUntil      *time.Time `json:"overlap_until,omitempty"`
}

// NewAdminWebhookRotation is the answer for a rotated webhook w at now.
func NewAdminWebhookRotation(w *novamed.Webhook, now time.Time) AdminWebhookRotation {
	out := AdminWebhookRotation{WebhookID: w.ID, ClinicID: w.ClinicID, VerificationToken: w.Secrets.VerificationToken, SigningSecret: w.Secrets.SigningSecret}
	if w.Secrets.InOverlap(now) {
		until := w.Secrets.OverlapUntil
		out.OverlapUntil = &until
	}
	return out
}

func (s *Server) adminWebhookRotate(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	overlap, err := readOverlap(c.r)
	if err != nil {
		return nil, touched("", id), false, err
	}
	ctx := c.r.Context()
	clinics, err := s.allClinics(ctx)
	if err != nil {
		return nil, touched("", id), false, err
	}
	now := s.now()
	w, err := s.store.RotateWebhookSecrets(ctx, id, clinics, novamed.NewWebhookSecrets(), now.Add(overlap), novamed.Effects{})
	if err != nil {
		return nil, touched("", id), false, err
	}
	return NewAdminWebhookRotation(w, now), touched(w.ClinicID, w.ID), false, nil
}

// adminOrderSearch lists orders of every clinic (or one, ?clinic=), newest
// page by page, optionally of one status: a PHI read, audited with the
// operator, the clinic filter and every order listed.
func (s *Server) adminOrderSearch(c *adminCall) (any, facts, bool, error) {
	q := c.r.URL.Query()
	ctx := c.r.Context()
	f := novamed.OrderFilter{ListFilter: novamed.ListFilter{Limit: 25, Cursor: q.Get("cursor")}}
	clinic := strings.ToLower(q.Get("clinic"))
	var problems []novamed.FieldError
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problems = append(problems, novamed.FieldError{Field: "limit", Message: "limit is 1 to 100."})
		}
		f.Limit = n
	}
	if f.Cursor != "" && !novamed.IsUUID(f.Cursor) {
		problems = append(problems, novamed.FieldError{Field: "cursor", Message: "cursor is the next_cursor of the previous page."})
	}
	if v := q.Get("status"); v != "" {
		if !slices.Contains(novamed.OrderLifecycle, v) && v != novamed.OrderCancelled {
			problems = append(problems, novamed.FieldError{Field: "status", Message: "status must be one of: " +
				strings.Join(append(slices.Clone(novamed.OrderLifecycle), novamed.OrderCancelled), ", ") + "."})
		}
		f.Status = v
	}
	if clinic != "" && !novamed.IsUUID(clinic) {
		problems = append(problems, novamed.FieldError{Field: "clinic", Message: "clinic must be a clinic id (UUID)."})
	}
	if len(problems) > 0 {
		return nil, facts{}, false, novamed.ValidationError(problems)
	}
	f.Cursor = strings.ToLower(f.Cursor)
	if clinic != "" {
		if _, err := s.admin.GetClinic(ctx, clinic); err != nil {
			return nil, touched(clinic), false, err
		}
		f.Clinics = []string{clinic}
	} else {
		all, err := s.allClinics(ctx)
		if err != nil {
			return nil, facts{}, false, err
		}
		f.Clinics = all
	}
	orders, next, err := s.store.ListMedicationOrders(ctx, f)
	if err != nil {
		return nil, touched(clinic), false, err
	}
	out := make([]orderJSON, len(orders))
	ids := make([]string, len(orders))
	for i, o := range orders {
		out[i], ids[i] = toOrderJSON(o), o.ID
	}
	var nextCursor *string // null on the last page, as the partner API's lists
	if next != "" {
		nextCursor = &next
	}
	return map[string]any{"orders": out, "next_cursor": nextCursor}, touched(clinic, ids...), false, nil
}
