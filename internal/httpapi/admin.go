package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
)

// AdminStore is what the admin API needs of the store beyond
// novamed.Store: operators, partners (through internal/onboarding) and the
// operator views of keys, usage and the audit trail.
type AdminStore interface {
	operator.Store
	onboarding.Store
	partneruser.Store
	keyrequest.Store
	Usage(ctx context.Context, keyID, since string) ([]novamed.UsageCount, error)
	ListSecurityEvents(ctx context.Context, since time.Time, limit int) ([]*novamed.SecurityEvent, error)
	AcknowledgeSecurityEvent(ctx context.Context, id, actor string, at time.Time, rec *novamed.AuditRecord) (*novamed.SecurityEvent, error)
	SealedVersions(ctx context.Context) (map[uint32]int, error)
	// BlindIndexVersions is the master key version the blind indexes are
	// keyed with and the one a re-index moves them to.
	BlindIndexVersions(ctx context.Context) (version, target uint32, err error)
	novamed.AuditStore
	AuditSegments(ctx context.Context) ([]*audit.Segment, error)
	// Exists reports whether a clinic, webhook or (of clinicID) event exists.
	Exists(ctx context.Context, kind, id, clinicID string) (bool, error)
	ReplaceCarriers(ctx context.Context, cs []novamed.Carrier, onlyIfEmpty bool) error
	ReplaceFormulary(ctx context.Context, clinicID string, entries []novamed.FormularyEntry) error
	SetFormularyEntry(ctx context.Context, clinicID string, e novamed.FormularyEntry) error
	RemoveFormularyEntry(ctx context.Context, clinicID, name string) error
	ListEvents(ctx context.Context, clinicID, after string, limit int) ([]*novamed.Event, error)
}

// adminCall is one authenticated admin request.
type adminCall struct {
	op *operator.Operator
	st *reqState
	r  *http.Request
}

// actor is the onboarding actor of the call, for actions that audit in
// their own transaction.
func (c *adminCall) actor() onboarding.Actor {
	return onboarding.Actor{ID: c.op.Actor(), RequestID: c.st.requestID, Addr: c.st.clientAddr, Via: truncate(c.r.UserAgent(), 200)}
}

// adminHandler serves one admin route: the data of the success envelope,
// what it touched (the audit record's clinic and resources), and whether
// its action was already audited in the transaction that made it.
type adminHandler func(c *adminCall) (data any, f facts, recorded bool, err error)

// adminRoute is one row of the admin route table: the role capability it
// needs, its audit action and resource type, its handler.
type adminRoute struct {
	Pattern      string
	Capability   operator.Capability
	Action       string
	ResourceType string
	handler      adminHandler
}

// AdminRouteInfo is a row of the admin route table as tests and
// documentation see it.
type AdminRouteInfo struct {
	Pattern    string
	Capability operator.Capability
}

// AdminRoutes lists the admin route table: the role-matrix test is
// generated from it.
func AdminRoutes() []AdminRouteInfo {
	var out []AdminRouteInfo
	for _, rt := range (*Server)(nil).adminTable() {
		out = append(out, AdminRouteInfo{Pattern: rt.Pattern, Capability: rt.Capability})
	}
	return out
}

// adminTable is the whole admin API, one route a line; every route's role
// check comes from its Capability (operator.Capabilities).
func (s *Server) adminTable() []adminRoute {
	return []adminRoute{
		{"GET /api/admin/me", operator.Read, "admin.me", "operator", s.adminMe},
		{"GET /api/admin/keys", operator.Read, "api_key.list", "api_key", s.adminKeysList},
		{"POST /api/admin/keys", operator.Change, "api_key.issue", "api_key", s.adminKeysIssue},
		{"PATCH /api/admin/keys/{id}", operator.Change, "api_key.update", "api_key", s.adminKeysUpdate},
		{"POST /api/admin/keys/{id}/roll", operator.Change, "api_key.roll", "api_key", s.adminKeysRoll},
		{"POST /api/admin/keys/{id}/revoke", operator.Revoke, "api_key.revoke", "api_key", s.adminKeysRevoke},
		{"GET /api/admin/keys/{id}/usage", operator.Read, "api_key.usage", "api_key", s.adminKeysUsage},
		{"GET /api/admin/orders/{id}", operator.ReadPHI, "medication_order.read", "medication_order", s.adminOrderRead},
		{"POST /api/admin/orders/{id}/advance", operator.Orders, "medication_order.advance", "medication_order", s.adminOrderAdvance},
		{"POST /api/admin/orders/{id}/cancel", operator.Orders, "medication_order.cancel", "medication_order", s.adminOrderCancel},
		{"POST /api/admin/orders/{id}/cancel-shipment", operator.Orders, "medication_order.cancel_shipment", "medication_order", s.adminOrderCancelShipment},
		{"POST /api/admin/practitioners/{id}/activate", operator.Orders, "practitioner.activate", "practitioner", s.adminPractitionerActivate},
		{"GET /api/admin/partners", operator.Read, "partner.list", "partner", s.adminPartnersList},
		{"POST /api/admin/partners", operator.Change, "partner.create", "partner", s.adminPartnersCreate},
		{"GET /api/admin/partners/{id}", operator.Read, "partner.read", "partner", s.adminPartnerShow},
		{"POST /api/admin/partners/{id}/approve", operator.Change, "partner.approve", "partner", s.adminPartnerStatus("approve")},
		{"POST /api/admin/partners/{id}/suspend", operator.Revoke, "partner.suspend", "partner", s.adminPartnerStatus("suspend")},
		{"POST /api/admin/partners/{id}/reinstate", operator.Revoke, "partner.reinstate", "partner", s.adminPartnerStatus("reinstate")},
		{"POST /api/admin/partners/{id}/baas", operator.Change, "partner.baa_record", "partner", s.adminPartnerBAA},
		{"GET /api/admin/partners/{id}/users", operator.Operators, "partner_user.list", "partner_user", s.adminPartnerUsers},
		{"POST /api/admin/partners/{id}/users", operator.Operators, "partner_user.invite", "partner_user", s.adminPartnerUserInvite},
		{"GET /api/admin/key-requests", operator.Read, "key_request.list", "key_request", s.adminKeyRequests},
		{"POST /api/admin/key-requests/{id}/approve", operator.Change, "key_request.approve", "key_request", s.adminKeyRequestApprove},
		{"POST /api/admin/key-requests/{id}/reject", operator.Change, "key_request.reject", "key_request", s.adminKeyRequestReject},
		{"GET /api/admin/clinics", operator.Read, "clinic.list", "clinic", s.adminClinicsList},
		{"POST /api/admin/clinics", operator.Change, "clinic.create", "clinic", s.adminClinicsCreate},
		{"PATCH /api/admin/clinics/{id}", operator.Change, "clinic.update", "clinic", s.adminClinicsUpdate},
		{"GET /api/admin/carriers", operator.Read, "carrier.list", "carrier", s.adminCarriers},
		{"GET /api/admin/clinics/{id}/formulary", operator.Read, "formulary.list", "formulary", s.adminFormulary},
		{"GET /api/admin/webhook-deliveries", operator.Read, "webhook.deliveries", "delivery", s.adminDeliveries},
		{"POST /api/admin/webhook-deliveries/{id}/retry", operator.Change, "webhook.retry", "delivery", s.adminDeliveryRetry},
		{"GET /api/admin/security-events", operator.Audit, "security_event.list", "security_event", s.adminSecurityEvents},
		{"POST /api/admin/security-events/{id}/acknowledge", operator.Audit, "security_event.acknowledge", "security_event", s.adminSecurityEventAck},
		{"GET /api/admin/audit", operator.Audit, "audit.export", "audit", s.adminAuditExport},
		{"POST /api/admin/audit/verify", operator.Audit, "audit.verify", "audit", s.adminAuditVerify},
		{"POST /api/admin/audit/checkpoints", operator.Audit, "audit.checkpoint", "audit", s.adminAuditCheckpoint},
		{"GET /api/admin/audit/checkpoint-key", operator.Audit, "audit.checkpoint_key", "audit", s.adminAuditCheckpointKey},
		{"POST /api/admin/audit/seal", operator.Audit, "audit.seal", "audit", s.adminAuditSeal},
		{"POST /api/admin/audit/archive/runs", operator.Audit, "audit.archive_run", "audit", s.adminAuditArchiveRun},
		{"GET /api/admin/audit/archive", operator.Audit, "audit.archive_status", "audit", s.adminAuditArchiveStatus},
		{"GET /api/admin/crypto", operator.Audit, "crypto.status", "crypto", s.adminCryptoStatus},
		{"POST /api/admin/crypto/reencryptions", operator.Audit, "crypto.rotation", "crypto", s.adminReencryptStart},
		{"GET /api/admin/crypto/reencryptions/{id}", operator.Audit, "crypto.rotation_status", "crypto", s.adminReencryptShow},
		{"GET /api/admin/operators", operator.Operators, "operator.list", "operator", s.adminOperatorsList},
		{"POST /api/admin/operators", operator.Operators, "operator.create", "operator", s.adminOperatorsCreate},
		{"PATCH /api/admin/operators/{id}", operator.Operators, "operator.update", "operator", s.adminOperatorUpdate},
		{"POST /api/admin/operators/{id}/totp-reset", operator.Operators, "operator.totp_enrol", "operator", s.adminOperatorTOTPReset},
		{"POST /api/admin/operators/{id}/throttle-reset", operator.Operators, "operator.reset_throttle", "operator", s.adminOperatorThrottleReset},
		// Any signed-in operator's own tokens; an admin's, anyone's (checked in the handlers).
		{"GET /api/admin/operator-tokens", operator.Read, "operator.token_list", "operator_token", s.adminTokensList},
		{"POST /api/admin/operator-tokens/{id}/revoke", operator.Read, "operator.token_revoke", "operator_token", s.adminTokenRevoke},
		{"PUT /api/admin/carriers", operator.Change, "carrier.import", "carrier", s.adminCarriersReplace},
		{"PUT /api/admin/clinics/{id}/formulary", operator.Change, "formulary.import", "formulary", s.adminFormularyReplace},
		{"POST /api/admin/clinics/{id}/formulary/medications", operator.Change, "formulary.set", "formulary", s.adminFormularySet},
		{"DELETE /api/admin/clinics/{id}/formulary/medications/{name}", operator.Change, "formulary.remove", "formulary", s.adminFormularyRemove},
		{"GET /api/admin/clinics/{id}/events", operator.Read, "event.list", "event", s.adminClinicEvents},
		{"POST /api/admin/webhooks/{id}/rotate", operator.Change, "webhook.rotate", "webhook", s.adminWebhookRotate},
		{"GET /api/admin/orders", operator.ReadPHI, "medication_order.list", "medication_order", s.adminOrderSearch},
	}
}

// registerAdmin adds the admin routes to the route table (when the server
// has operators: the admin store and the operator service).
func (s *Server) registerAdmin(mux *routeTable) {
	if s.operators == nil || s.admin == nil {
		return
	}
	for _, rt := range s.adminTable() {
		mux.Handle(rt.Pattern, s.adminStack(rt))
	}
}

// errForbidden answers an operator whose role lacks a route's capability.
func errForbidden(role operator.Role) error {
	return &novamed.Error{Code: novamed.CodeForbidden, Message: "Your role (" + string(role) + ") does not allow this action."}
}

// adminStack authenticates the operator token (Authorization: Bearer
// op_…), checks the role, runs the handler and answers in the partner
// API's envelope. Every request with a verified operator is audited with
// actor operator:<id> and its outcome; a failed authentication is audited
// as admin.auth_failed.
func (s *Server) adminStack(rt adminRoute) http.Handler {
	return s.negotiate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		st.action, st.resourceType = rt.Action, rt.ResourceType
		op, err := s.adminOperator(r)
		if errors.Is(err, operator.ErrUnauthenticated) {
			st.action = "admin.auth_failed"
			s.writeError(w, r, &novamed.Error{Code: novamed.CodeUnauthorized, Message: "Unauthorized. The operator token is missing, invalid, expired or has been revoked."})
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		st.actor = op.Actor()
		if !op.Role.Can(rt.Capability) {
			s.writeError(w, r, errForbidden(op.Role))
			return
		}
		data, f, recorded, err := rt.handler(&adminCall{op: op, st: st, r: r})
		st.facts = f
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		b, err := marshalSuccess(data, "")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.deliver(w, r, http.StatusOK, b, recorded)
	}))
}

// decodeAdmin reads a JSON body into v (an empty body leaves v as is).
func decodeAdmin(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "The body is not the JSON this route takes: " + jsonProblem(err)}
	}
	return nil
}

// jsonProblem is a decode error's message without Go type names.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return "field " + ute.Field + " has the wrong type"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "malformed JSON"
}

// AdminKey is a key as the admin API and `novamed keys … --json` show it;
// Key is set only when issued or rolled.
type AdminKey struct {
	ID          string              `json:"id"`
	Key         string              `json:"key,omitempty"`
	Name        string              `json:"name"`
	Prefix      string              `json:"prefix"`
	Environment novamed.Environment `json:"environment"`
	Clinics     []string            `json:"clinics"`
	RateLimit   int                 `json:"rate_limit"`
	CreatedAt   time.Time           `json:"created_at"`
	ExpiresAt   *time.Time          `json:"expires_at"`
	RevokedAt   *time.Time          `json:"revoked_at"`
	ReplacedBy  string              `json:"replaced_by,omitempty"`
	LastUsedAt  *time.Time          `json:"last_used_at"`
	PartnerID   string              `json:"partner_id,omitempty"`
	// Flags are what an operator must see beside the key: its partner
	// suspended, its BAA missing or expired (production).
	Flags []string `json:"flags,omitempty"`
}

// ToAdminKey is k as shown to operators at now (raw: the key, only when
// issued).
func ToAdminKey(k *novamed.APIKey, raw string, now time.Time) AdminKey {
	return AdminKey{ID: k.ID, Key: raw, Name: k.Name, Prefix: k.Prefix, Environment: k.Environment, Clinics: k.Clinics,
		RateLimit: k.EffectiveRateLimit(), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		ReplacedBy: k.ReplacedBy, LastUsedAt: k.LastUsedAt, PartnerID: k.PartnerID, Flags: onboarding.KeyFlags(k, now)}
}

func (s *Server) adminMe(c *adminCall) (any, facts, bool, error) {
	return map[string]any{"id": c.op.ID, "email": c.op.Email, "name": c.op.Name, "role": c.op.Role,
		"capabilities": capabilitiesOf(c.op.Role)}, touched("", c.op.ID), false, nil
}

func capabilitiesOf(r operator.Role) []operator.Capability {
	out := []operator.Capability{}
	for _, c := range operator.CapabilityOrder {
		if r.Can(c) {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) adminKeysList(c *adminCall) (any, facts, bool, error) {
	clinic := strings.ToLower(c.r.URL.Query().Get("clinic"))
	if clinic != "" {
		if !novamed.IsUUID(clinic) {
			return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalidClinicID, "Clinic id %q is not a UUID.", clinic)
		}
		if _, err := s.admin.GetClinic(c.r.Context(), clinic); err != nil {
			return nil, facts{}, false, err
		}
	}
	keys, err := s.store.ListAPIKeys(c.r.Context(), clinic)
	if err != nil {
		return nil, facts{}, false, err
	}
	out := make([]AdminKey, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		out[i], ids[i] = ToAdminKey(k, "", s.now()), k.ID
	}
	return map[string]any{"keys": out}, touched(clinic, ids...), false, nil
}

// AdminKeyRequest is the body of POST /api/admin/keys.
type AdminKeyRequest struct {
	Name      string     `json:"name"`
	Clinics   []string   `json:"clinics"`
	ExpiresAt *time.Time `json:"expires_at"`
	RateLimit int        `json:"rate_limit"`
}

// adminKeysIssue issues a key through onboarding.IssueKey, the one
// key-issuing function (partner rules, BAA on production), which audits
// the issue in the key's own transaction.
func (s *Server) adminKeysIssue(c *adminCall) (any, facts, bool, error) {
	var in AdminKeyRequest
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	k, raw, err := onboarding.IssueKey(c.r.Context(), s.admin, onboarding.Deps{Env: s.env, Now: s.now}, c.actor(),
		onboarding.KeyInput{Name: in.Name, Clinics: in.Clinics, ExpiresAt: in.ExpiresAt, RateLimit: in.RateLimit})
	if err != nil {
		return nil, facts{}, false, err
	}
	return ToAdminKey(k, raw, s.now()), touched("", k.ID), true, nil
}

func (s *Server) adminKeysUpdate(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in struct {
		RateLimit *int `json:"rate_limit"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	if in.RateLimit == nil || *in.RateLimit < 0 || *in.RateLimit > 1_000_000 {
		return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "rate_limit is required: 0 (the environment's default) to 1000000 requests per minute.")
	}
	k, err := s.store.UpdateAPIKeyRateLimit(c.r.Context(), id, *in.RateLimit)
	if err != nil {
		return nil, touched("", id), false, err
	}
	s.keyChanged(c.r.Context())
	return ToAdminKey(k, "", s.now()), touched("", k.ID), false, nil
}

func (s *Server) adminKeysRevoke(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	k, err := s.store.RevokeAPIKey(c.r.Context(), id, s.now())
	if err != nil {
		return nil, touched("", id), false, err
	}
	s.keyChanged(c.r.Context())
	return ToAdminKey(k, "", s.now()), touched("", k.ID), false, nil
}

// AdminKeyRoll is the answer of POST /api/admin/keys/{id}/roll and the
// --json of `novamed keys roll`.
type AdminKeyRoll struct {
	ID              string              `json:"id"`
	Key             string              `json:"key"`
	Environment     novamed.Environment `json:"environment"`
	Clinics         []string            `json:"clinics"`
	ExpiresAt       *time.Time          `json:"expires_at"`
	Replaces        string              `json:"replaces"`
	OldKeyExpiresAt *time.Time          `json:"old_key_expires_at"`
}

// adminKeysRoll issues a key's successor through onboarding.IssueKey (the
// issuing rules, BAA on production, apply to a roll too), audited in the
// transaction that stores it.
func (s *Server) adminKeysRoll(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in struct {
		Grace string `json:"grace"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	grace := 24 * time.Hour
	if in.Grace != "" {
		d, err := time.ParseDuration(in.Grace)
		if err != nil || d < 0 || d > 90*24*time.Hour {
			return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "grace is a duration such as 24h (at most 90 days).")
		}
		grace = d
	}
	ctx := c.r.Context()
	next, raw, err := onboarding.IssueKey(ctx, s.admin, s.onboardingDeps(), c.actor(), onboarding.KeyInput{Replaces: id, Grace: grace})
	if err != nil {
		return nil, touched("", id), false, err
	}
	s.keyChanged(ctx)
	old, err := s.store.GetAPIKey(ctx, id)
	if err != nil {
		return nil, touched("", id, next.ID), true, err
	}
	return AdminKeyRoll{ID: next.ID, Key: raw, Environment: next.Environment, Clinics: next.Clinics,
		ExpiresAt: next.ExpiresAt, Replaces: old.ID, OldKeyExpiresAt: old.ExpiresAt}, touched("", old.ID, next.ID), true, nil
}

func (s *Server) adminKeysUsage(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	days := 30
	if v := c.r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 400 {
			return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "days is 1 to 400.")
		}
		days = n
	}
	ctx := c.r.Context()
	if _, err := s.store.GetAPIKey(ctx, id); err != nil {
		return nil, touched("", id), false, err
	}
	since := s.now().AddDate(0, 0, -days+1).Format(time.DateOnly)
	counts, err := s.admin.Usage(ctx, id, since)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return UsageReport(id, since, counts), touched("", id), false, nil
}

// keyChanged drops this replica's cached keys and tells the others.
func (s *Server) keyChanged(ctx context.Context) {
	s.keys.Purge()
	if s.announceKeys != nil {
		s.announceKeys(ctx)
	}
}

// allClinics is every clinic id: an operator's scope.
func (s *Server) allClinics(ctx context.Context) ([]string, error) {
	cs, err := s.store.ListClinics(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids, nil
}

// adminOrderRead reads an order of any clinic (PHI: audited with the
// operator as actor, the clinic and the order).
func (s *Server) adminOrderRead(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	ctx := c.r.Context()
	clinics, err := s.allClinics(ctx)
	if err != nil {
		return nil, touched("", id), false, err
	}
	o, err := s.store.GetMedicationOrder(ctx, id, clinics)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return toOrderJSON(o), touched(o.ClinicID, o.ID), false, nil
}

func (s *Server) adminTransition(c *adminCall, to string, shipment *novamed.Shipment) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	o, ev, err := s.store.TransitionOrder(c.r.Context(), id, to, shipment)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return map[string]any{"id": o.ID, "status": o.Status, "event": ev.Name, "shipment": o.Shipment, "shipments": o.Shipments},
		touched(o.ClinicID, o.ID), false, nil
}

func (s *Server) adminOrderAdvance(c *adminCall) (any, facts, bool, error) {
	var in struct {
		To                string `json:"to"`
		TrackingNumber    string `json:"tracking_number"`
		Carrier           string `json:"carrier"`
		LabelURL          string `json:"label_url"`
		EstimatedDelivery string `json:"estimated_delivery"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	if in.To == "" {
		return nil, touched("", c.r.PathValue("id")), false, novamed.Errorf(novamed.CodeInvalid, "to is required: verified, submitted, acknowledged, filled, shipped or delivered.")
	}
	var shipment *novamed.Shipment
	if in.To == novamed.OrderShipped {
		shipment = &novamed.Shipment{TrackingNumber: strings.TrimSpace(in.TrackingNumber), Provider: strings.TrimSpace(in.Carrier),
			LabelURL: in.LabelURL, EstimatedDelivery: in.EstimatedDelivery}
	}
	return s.adminTransition(c, in.To, shipment)
}

func (s *Server) adminOrderCancel(c *adminCall) (any, facts, bool, error) {
	return s.adminTransition(c, novamed.OrderCancelled, nil)
}

func (s *Server) adminOrderCancelShipment(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	reason, err := novamed.CheckShipmentReason(in.Reason)
	if err != nil {
		return nil, touched("", id), false, err
	}
	rec := &novamed.AuditRecord{Time: s.now(), RequestID: c.st.requestID, Actor: c.op.Actor(), Action: "medication_order.cancel_shipment",
		ResourceType: "medication_order", ResourceIDs: []string{id}, ClientAddr: c.st.clientAddr, UserAgent: truncate(c.r.UserAgent(), 200), Status: 200}
	o, ev, err := s.store.CancelShipment(c.r.Context(), id, reason, novamed.Effects{Audit: rec})
	if err != nil {
		return nil, touched("", id), false, err
	}
	return map[string]any{"id": o.ID, "status": o.Status, "event": ev.Name, "shipment_id": ev.Data["shipment_id"], "shipments": o.Shipments},
		touched(o.ClinicID, o.ID), true, nil
}

func (s *Server) adminPractitionerActivate(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	p, ev, err := s.store.ActivatePractitioner(c.r.Context(), id)
	if err != nil {
		return nil, touched("", id), false, err
	}
	event := ""
	if ev != nil {
		event = ev.Name
	}
	return map[string]any{"id": p.ID, "status": p.Status, "event": event}, touched(p.ClinicID, p.ID), false, nil
}

func (s *Server) adminCarriers(c *adminCall) (any, facts, bool, error) {
	cs, err := s.store.ListCarriers(c.r.Context())
	if err != nil {
		return nil, facts{}, false, err
	}
	return map[string]any{"carriers": cs}, facts{}, false, nil
}

func (s *Server) adminFormulary(c *adminCall) (any, facts, bool, error) {
	id, err := s.adminClinic(c)
	if err != nil {
		return nil, touched("", id), false, err
	}
	own, err := s.store.ListFormulary(c.r.Context(), id)
	if err != nil {
		return nil, touched(id), false, err
	}
	return ViewFormulary(id, own, s.env), touched(id), false, nil
}

// AdminFormulary is a clinic's formulary as the admin API and `novamed
// formulary list --json` show it, and the body `formulary import` reads.
type AdminFormulary struct {
	ClinicID string `json:"clinic_id,omitempty"`
	// Source says where the listed medications come from: "clinic" (its
	// own entries), "development default" (the built-in test formulary of
	// a development clinic without entries) or "none".
	Source      string                   `json:"source,omitempty"`
	Medications []novamed.FormularyEntry `json:"medications"`
}

// ViewFormulary is the formulary that applies to the orders of a clinic
// whose own entries are own, on a deployment of env.
func ViewFormulary(clinic string, own []novamed.FormularyEntry, env novamed.Environment) AdminFormulary {
	entries, builtIn := novamed.ClinicFormulary(own, env)
	doc := AdminFormulary{ClinicID: clinic, Source: "clinic", Medications: entries}
	switch {
	case builtIn:
		doc.Source = "development default"
	case len(entries) == 0:
		doc.Source = "none"
	}
	return doc
}

func (s *Server) adminDeliveries(c *adminCall) (any, facts, bool, error) {
	q := c.r.URL.Query()
	ctx := c.r.Context()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "limit is 1 to 1000.")
		}
		limit = n
	}
	webhook := strings.ToLower(q.Get("webhook"))
	if webhook != "" {
		// An unknown webhook is an error, not an empty log.
		clinics, err := s.allClinics(ctx)
		if err != nil {
			return nil, facts{}, false, err
		}
		if _, err := s.store.GetWebhook(ctx, webhook, clinics); err != nil {
			return nil, touched("", webhook), false, err
		}
	}
	ds, next, err := s.store.ListDeliveries(ctx, novamed.DeliveryFilter{WebhookID: webhook,
		Status: q.Get("status"), Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		return nil, facts{}, false, err
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return map[string]any{"deliveries": ds, "next_cursor": next}, touched("", ids...), false, nil
}

func (s *Server) adminDeliveryRetry(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	ctx := c.r.Context()
	clinics, err := s.allClinics(ctx)
	if err != nil {
		return nil, touched("", id), false, err
	}
	d, err := s.store.RetryDelivery(ctx, id, "", clinics)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return d, touched("", d.ID), false, nil
}

func (s *Server) adminSecurityEvents(c *adminCall) (any, facts, bool, error) {
	since := s.now().Add(-7 * 24 * time.Hour)
	if v := c.r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "since is an RFC 3339 time.")
		}
		since = t
	}
	evs, err := s.admin.ListSecurityEvents(c.r.Context(), since, 1000)
	if err != nil {
		return nil, facts{}, false, err
	}
	return map[string]any{"events": evs}, facts{}, false, nil
}

// adminSecurityEventAck acknowledges an open security event; the audit
// record (the operator as actor) is written in the same transaction.
func (s *Server) adminSecurityEventAck(c *adminCall) (any, facts, bool, error) {
	id := strings.TrimSpace(c.r.PathValue("id"))
	if err := decodeAdmin(c.r, &struct{}{}); err != nil {
		return nil, touched("", id), false, err
	}
	rec := &novamed.AuditRecord{Time: s.now(), RequestID: c.st.requestID, Actor: c.op.Actor(), Action: "security_event.acknowledge",
		ResourceType: "security_event", ResourceIDs: []string{id}, ClientAddr: c.st.clientAddr, UserAgent: truncate(c.r.UserAgent(), 200), Status: 200}
	ev, err := s.admin.AcknowledgeSecurityEvent(c.r.Context(), id, c.op.Actor(), s.now().UTC(), rec)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return ev, touched("", ev.ID), true, nil
}

// AdminCryptoStatus is the answer of GET /api/admin/crypto and what
// `novamed crypto status --json` prints (in both of its modes): how many
// PHI values each master key version seals, and the versions the blind
// indexes are keyed with and moving to.
type AdminCryptoStatus struct {
	BlindIndexTarget  uint32         `json:"blind_index_target"`
	BlindIndexVersion uint32         `json:"blind_index_version"`
	ValuesByVersion   map[uint32]int `json:"values_by_version"`
}

func (s *Server) adminCryptoStatus(c *adminCall) (any, facts, bool, error) {
	ctx := c.r.Context()
	v, err := s.admin.SealedVersions(ctx)
	if err != nil {
		return nil, facts{}, false, err
	}
	version, target, err := s.admin.BlindIndexVersions(ctx)
	if err != nil {
		return nil, facts{}, false, err
	}
	if v == nil {
		v = map[uint32]int{}
	}
	return AdminCryptoStatus{BlindIndexTarget: target, BlindIndexVersion: version, ValuesByVersion: v}, facts{}, false, nil
}

// noReencrypt answers when this server runs no re-encryption service.
var noReencrypt = &novamed.Error{Code: novamed.CodeServiceNotAvail, Message: "This server does not run master-key re-encryptions."}

// adminReencryptStart starts re-sealing every PHI value under to_version
// (which every running replica's keyring must hold); audited as
// crypto.rotation with the job id.
func (s *Server) adminReencryptStart(c *adminCall) (any, facts, bool, error) {
	if s.reencrypt == nil {
		return nil, facts{}, false, noReencrypt
	}
	var in struct {
		ToVersion *int64 `json:"to_version"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	if in.ToVersion == nil || *in.ToVersion < 1 || *in.ToVersion > 1<<31 {
		return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "to_version is required: a master key version number (1 or more).")
	}
	j, err := s.reencrypt.Start(c.r.Context(), uint32(*in.ToVersion), c.op.Actor())
	if err != nil {
		return nil, facts{}, false, err
	}
	return j, touched("", j.ID), false, nil
}

// adminReencryptShow answers a job's progress.
func (s *Server) adminReencryptShow(c *adminCall) (any, facts, bool, error) {
	if s.reencrypt == nil {
		return nil, facts{}, false, noReencrypt
	}
	id := strings.ToLower(c.r.PathValue("id"))
	j, err := s.reencrypt.Job(c.r.Context(), id)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return j, touched("", j.ID), false, nil
}

// AdminOperator is an operator as the admin API shows it (no secret).
type AdminOperator struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Status      string    `json:"status"`
	HasPassword bool      `json:"has_password"`
	HasTOTP     bool      `json:"has_totp"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Shown once: by create (setup link) and by a TOTP enrolment.
	SetupLink          string     `json:"setup_link,omitempty"`
	SetupLinkExpiresAt *time.Time `json:"setup_link_expires_at,omitempty"`
	TOTPURL            string     `json:"totp_url,omitempty"`
}

// ToAdminOperator is o as shown to operators.
func ToAdminOperator(o *operator.Operator) AdminOperator {
	return AdminOperator{ID: o.ID, Email: o.Email, Name: o.Name, Role: string(o.Role), Status: string(o.Status),
		HasPassword: o.HasPassword(), HasTOTP: o.HasTOTP(), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func (s *Server) adminOperatorsList(c *adminCall) (any, facts, bool, error) {
	ops, err := s.admin.ListOperators(c.r.Context())
	if err != nil {
		return nil, facts{}, false, err
	}
	out := make([]AdminOperator, len(ops))
	for i, o := range ops {
		out[i] = ToAdminOperator(o)
	}
	return map[string]any{"operators": out}, facts{}, false, nil
}

// adminOperatorsCreate adds an operator with a one-time setup link (a
// password never travels through the admin API).
func (s *Server) adminOperatorsCreate(c *adminCall) (any, facts, bool, error) {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
		Role  string `json:"role"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	ctx := c.r.Context()
	o, err := s.operators.Create(ctx, in.Email, in.Name, operator.Role(in.Role), "")
	if err != nil {
		return nil, facts{}, false, err
	}
	path, exp, err := s.operators.NewSetupLink(ctx, o)
	if err != nil {
		return nil, touched("", o.ID), false, err
	}
	out := ToAdminOperator(o)
	out.SetupLink, out.SetupLinkExpiresAt = path, &exp
	return out, touched("", o.ID), false, nil
}
