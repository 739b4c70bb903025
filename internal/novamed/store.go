package novamed

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is returned by a store when a uniqueness rule (a duplicate
// patient or practitioner, or an Idempotency-Key already used) stopped a write.
// Stores wrap it with details; test with errors.Is.
var ErrConflict = errors.New("novamed: conflict")

// DuplicateError is the ErrConflict of a create whose record already exists
// (a patient of the same identity, a practitioner with the same NPI, in one
// clinic). ExistingID names the stored record when the store could read it,
// so a partner can carry on with it; it is empty when the record was not yet
// visible (a concurrent create of the same identity still committing).
type DuplicateError struct {
	What       string // "patient identity", "practitioner npi"
	ExistingID string
}

// Error implements the error interface.
func (e *DuplicateError) Error() string { return e.What + ": " + ErrConflict.Error() }

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *DuplicateError) Unwrap() error { return ErrConflict }

// ErrIdempotencyConflict is returned when the Idempotency-Key of a write was
// committed by another request first; the caller replays that request's answer.
var ErrIdempotencyConflict = errors.New("novamed: idempotency key already used")

// Effects are the records that must commit in the same transaction as a write:
// the audit record of the request and the remembered response of an
// idempotent request. Either may be nil.
type Effects struct {
	Audit       *AuditRecord
	Idempotency *IdempotencyRecord
}

// ListFilter selects one page of a list, newest first.
type ListFilter struct {
	Clinics []string // the caller's clinics; results never leave them
	Limit   int
	Cursor  string // the id of the last item of the previous page; "" for the first page
}

// ClinicStore persists clinics.
type ClinicStore interface {
	CreateClinic(ctx context.Context, c *Clinic) error
	GetClinic(ctx context.Context, id string) (*Clinic, error)
	ListClinics(ctx context.Context) ([]*Clinic, error)
}

// KeyStore persists API keys (as hashes).
type KeyStore interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKeyByHash returns the key with that SHA-256 hash (hex), or a
	// NotFound error.
	FindAPIKeyByHash(ctx context.Context, hashHex string) (*APIKey, error)
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, clinicID string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*APIKey, error)
	// RollAPIKey stores next as the successor of key id, which stays usable
	// until graceUntil. It fails if id is revoked, expired or already rolled.
	RollAPIKey(ctx context.Context, id string, next *APIKey, graceUntil time.Time) (*APIKey, error)
	UpdateAPIKeyRateLimit(ctx context.Context, id string, perMinute int) (*APIKey, error)
}

// PractitionerStore persists practitioners. A second practitioner with the
// same NPI in one clinic is an ErrConflict.
type PractitionerStore interface {
	CreatePractitioner(ctx context.Context, p *Practitioner, eff Effects) error
	// UpdatePractitioner stores p's fields over the practitioner p.ID of
	// clinic p.ClinicID (its status stays; p.Status is set to it) and
	// records practitioner:updated, with eff, in one transaction.
	UpdatePractitioner(ctx context.Context, p *Practitioner, eff Effects) (*Event, error)
	GetPractitioner(ctx context.Context, id string, clinics []string) (*Practitioner, error)
	ListPractitioners(ctx context.Context, f ListFilter) (items []*Practitioner, next string, err error)
}

// PatientStore persists patients. A second patient with the same name and
// date of birth in one clinic is an ErrConflict.
type PatientStore interface {
	CreatePatient(ctx context.Context, p *Patient, eff Effects) error
	// UpdatePatient stores p's fields over the patient p.ID of clinic
	// p.ClinicID and records patient:updated, with eff, in one transaction.
	UpdatePatient(ctx context.Context, p *Patient, eff Effects) (*Event, error)
	GetPatient(ctx context.Context, id string, clinics []string) (*Patient, error)
	ListPatients(ctx context.Context, f ListFilter) (items []*Patient, next string, err error)
}

// AuditStore persists the hash-chained audit trail.
type AuditStore interface {
	// AppendAudit stores records durably, in order and adjacent in the
	// chain. SQLite chains them in the same transaction; PostgreSQL chains
	// them moments later (ScanAudit and AuditHead chain anything pending
	// first).
	AppendAudit(ctx context.Context, recs []*AuditRecord) error
	// ScanAudit calls fn for every record with since <= Time < until (zero
	// values: unbounded) in sequence order; fn returning an error stops it.
	ScanAudit(ctx context.Context, since, until time.Time, fn func(*AuditRecord) error) error
	// AuditHead returns the newest record's sequence number and hash, kept
	// apart from the records so that removing the newest one is detected.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	// ScanAuditRows calls fn for every stored row, in the order of its seq
	// column, with each column as stored: verification compares them with
	// the hashed record instead of trusting any of them.
	ScanAuditRows(ctx context.Context, fn func(*AuditRow) error) error
}

// AuditRow is one audit_log row as the database holds it: only Record (and
// through it Seq, Time and PrevHash) is covered by the hash.
type AuditRow struct {
	Seq      int64     // the seq column
	At       time.Time // the at column (what an index can use)
	Record   []byte    // the canonical JSON the hash covers
	PrevHash string    // the prev_hash column
	Hash     string    // the hash column
}

// IdempotencyStore remembers answers to requests with an Idempotency-Key.
type IdempotencyStore interface {
	GetIdempotency(ctx context.Context, owner, key string) (*IdempotencyRecord, error)
	// SaveIdempotency stores a record that has no write of its own (a
	// remembered 4xx); ErrIdempotencyConflict if the key is already stored.
	SaveIdempotency(ctx context.Context, rec *IdempotencyRecord, audit *AuditRecord) error
	PurgeIdempotency(ctx context.Context, before time.Time) (int64, error)
}

// OrderFilter selects a page of orders, optionally one patient's or one status.
type OrderFilter struct {
	ListFilter
	PatientID string
	Status    string
}

// OrderStore is the partner API's side of the pharmacy: orders, refills
// and the carrier catalogue. Every state change writes its event in the
// same transaction.
type OrderStore interface {
	CreateMedicationOrder(ctx context.Context, o *MedicationOrder, eff Effects) error
	GetMedicationOrder(ctx context.Context, id string, clinics []string) (*MedicationOrder, error)
	ListMedicationOrders(ctx context.Context, f OrderFilter) (items []*MedicationOrder, next string, err error)
	// CancelShipment cancels the active shipment of a shipped order (of
	// any clinic) with a reason checked by CheckShipmentReason: the order
	// returns to filled, the shipment stays on it marked cancelled, and
	// shipment:cancelled is recorded, with eff, in one transaction. An order
	// that is not shipped is an ORDER_NOT_SHIPPED error and stays as it was.
	CancelShipment(ctx context.Context, id, reason string, eff Effects) (*MedicationOrder, *Event, error)
	// CancelOrder is a partner's cancellation (CancelByPartner) of order id,
	// which must still be in status from (what the caller saw), at time at:
	// the order is cancelled, the refill it consumed (a refill's order) is
	// given back, and medication_order:cancelled is recorded, with eff, in
	// one transaction. An order that changed meanwhile is an
	// ORDER_NOT_CANCELLABLE or INVALID_TRANSITION error.
	CancelOrder(ctx context.Context, id, from, reason string, at time.Time, eff Effects) (*MedicationOrder, *Event, error)
	// CreateRefill checks eligibility and creates the refill and its new
	// order (ids r.ID and r.NewOrderID) in one transaction. The new order
	// takes the refill's shipping address and payment method id; a
	// shipment service code (a service of any carrier) or a shipping
	// address re-prices it (ShipRefill): an unknown code is a validation
	// error, a service that does not deliver there SERVICE_NOT_AVAILABLE.
	CreateRefill(ctx context.Context, r *RefillRequest, clinics []string, eff Effects) (*MedicationOrder, error)
	GetRefill(ctx context.Context, id string, clinics []string) (*RefillRequest, error)
	ListRefills(ctx context.Context, f ListFilter) (items []*RefillRequest, next string, err error)
	ListCarriers(ctx context.Context) ([]Carrier, error)
}

// FulfilmentStore is what moves orders and practitioners on outside a
// partner request: the development sandbox and operator commands.
type FulfilmentStore interface {
	// TransitionOrder moves an order (of any clinic: an operator action)
	// under a row lock; each transition happens and is recorded once. A
	// shipment without provider or tracking URL gets the order's carrier's.
	TransitionOrder(ctx context.Context, id, to string, shipment *Shipment) (*MedicationOrder, *Event, error)
	// OrdersToAdvance lists orders not yet delivered or cancelled whose last
	// change is older than before (for the development sandbox).
	// Items are not loaded; shipments are.
	OrdersToAdvance(ctx context.Context, before time.Time, limit int) ([]*MedicationOrder, error)
	ActivatePractitioner(ctx context.Context, id string) (*Practitioner, *Event, error)
	PendingPractitioners(ctx context.Context, limit int) ([]string, error)
}

// CatalogueStore is the operator's side of the pharmacy data.
type CatalogueStore interface {
	// ReplaceCarriers swaps the whole catalogue; with onlyIfEmpty it seeds
	// a fresh database and leaves an existing catalogue alone.
	ReplaceCarriers(ctx context.Context, cs []Carrier, onlyIfEmpty bool) error
	SetClinicFreeShipping(ctx context.Context, id string, free bool) (*Clinic, error)
	// ListEvents returns a clinic's events after an event id, oldest first.
	ListEvents(ctx context.Context, clinicID, after string, limit int) ([]*Event, error)
}

// PharmacyStore persists orders, refills, the carrier catalogue and the
// event outbox.
type PharmacyStore interface {
	OrderStore
	FulfilmentStore
	CatalogueStore
}

// FormularyStore persists each clinic's formulary (operator data). Entries
// are normalized and keyed by FormularyKey(Name) within a clinic; an
// unknown clinic is ErrClinicNotFound.
type FormularyStore interface {
	// ListFormulary returns the clinic's own entries in key order (an
	// empty list when it has none; ClinicFormulary decides what applies).
	ListFormulary(ctx context.Context, clinicID string) ([]FormularyEntry, error)
	// ReplaceFormulary swaps the clinic's whole formulary (an import).
	ReplaceFormulary(ctx context.Context, clinicID string, entries []FormularyEntry) error
	// SetFormularyEntry adds e, or replaces the entry with the same key.
	SetFormularyEntry(ctx context.Context, clinicID string, e FormularyEntry) error
	// RemoveFormularyEntry deletes the entry whose key matches name;
	// NotFound("Medication") when there is none.
	RemoveFormularyEntry(ctx context.Context, clinicID, name string) error
}

// The interfaces each consumer uses. A consumer names the narrowest one
// that covers its calls; *sqlstore.Store implements them all.

// APIStore is what the partner HTTP API (internal/httpapi) calls.
type APIStore interface {
	GetClinic(ctx context.Context, id string) (*Clinic, error)
	FindAPIKeyByHash(ctx context.Context, hashHex string) (*APIKey, error)
	PractitionerStore
	PatientStore
	IdempotencyStore
	OrderStore
	ListFormulary(ctx context.Context, clinicID string) ([]FormularyEntry, error)
	WebhookAPIStore
	Usage(ctx context.Context, keyID, since string) ([]UsageCount, error)
	Ping(ctx context.Context) error
}

// SandboxStore is what the development sandbox (internal/sandbox) calls:
// it moves orders and practitioners on and audits what it did.
type SandboxStore interface {
	FulfilmentStore
	AppendAudit(ctx context.Context, recs []*AuditRecord) error
}

// AdminStore is what the operators' admin API (internal/httpapi, under
// /api/admin/) calls beyond the partner API's methods.
type AdminStore interface {
	ListClinics(ctx context.Context) ([]*Clinic, error)
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, clinicID string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*APIKey, error)
	RollAPIKey(ctx context.Context, id string, next *APIKey, graceUntil time.Time) (*APIKey, error)
	UpdateAPIKeyRateLimit(ctx context.Context, id string, perMinute int) (*APIKey, error)
	TransitionOrder(ctx context.Context, id, to string, shipment *Shipment) (*MedicationOrder, *Event, error)
	ActivatePractitioner(ctx context.Context, id string) (*Practitioner, *Event, error)
}

// ServerStore is what the HTTP server (internal/httpapi) holds: the
// partner API's and the admin API's methods.
type ServerStore interface {
	APIStore
	AdminStore
}

// UsageRecorderStore is what the usage recorder (internal/usage) calls.
type UsageRecorderStore interface {
	UsageSink
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
}

// Store is everything persistence offers: what the operator commands
// (cmd/novamed) use and the conformance suite (internal/storetest) checks.
// SQLite and PostgreSQL implement it and pass that suite.
type Store interface {
	ClinicStore
	KeyStore
	PartnerStore
	PractitionerStore
	PatientStore
	AuditStore
	IdempotencyStore
	PharmacyStore
	FormularyStore
	WebhookStore
	UsageStore
	Ping(ctx context.Context) error
	Close() error
}
