package novamed

import "time"

// Environment is the environment one server process runs: development or production.
type Environment string

// The two environments.
const (
	Development Environment = "development"
	Production  Environment = "production"
)

// Valid reports whether e is one of the two environments.
func (e Environment) Valid() bool { return e == Development || e == Production }

// DefaultRateLimit is the per-key requests-per-minute limit of the environment.
func (e Environment) DefaultRateLimit() int {
	if e == Production {
		return 60
	}
	return 100
}

// Clinic is a practice a partner acts for. Keys are granted clinics.
type Clinic struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	PartnerID    string    `json:"partner_id,omitempty"`
	FreeShipping bool      `json:"free_shipping"`
	CreatedAt    time.Time `json:"created_at"`
}

// APIKey is the stored form of a partner key: never the key itself, only its
// SHA-256 hash (hex) and a short display prefix.
type APIKey struct {
	ID          string      `json:"id"`
	Owner       string      `json:"owner"` // the first key of a roll lineage; idempotency and usage are scoped to it
	Name        string      `json:"name"`
	Environment Environment `json:"environment"`
	Prefix      string      `json:"prefix"`
	HashHex     string      `json:"-"`
	Clinics     []string    `json:"clinics"`
	RateLimit   int         `json:"rate_limit"` // requests per minute; 0 means the environment default
	CreatedAt   time.Time   `json:"created_at"`
	ExpiresAt   *time.Time  `json:"expires_at"`
	RevokedAt   *time.Time  `json:"revoked_at"`
	ReplacedBy  string      `json:"replaced_by,omitempty"`
	LastUsedAt  *time.Time  `json:"last_used_at"`
	// PartnerID is the partner of the key's clinics ("" for a key whose
	// clinics have none, which only a store outside the CLI can make).
	PartnerID string `json:"partner_id,omitempty"`
	// Partner is that partner's state as authentication needs it, read
	// with the key (nil without a partner).
	Partner *PartnerKeyState `json:"-"`
}

// Usable reports whether the key may authenticate at time now.
func (k *APIKey) Usable(now time.Time) bool {
	if k.RevokedAt != nil && !now.Before(*k.RevokedAt) {
		return false
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return false
	}
	return true
}

// HasClinic reports whether the key is granted clinic id.
func (k *APIKey) HasClinic(id string) bool {
	for _, c := range k.Clinics {
		if c == id {
			return true
		}
	}
	return false
}

// EffectiveRateLimit is the key's per-minute limit in environment env.
func (k *APIKey) EffectiveRateLimit() int {
	if k.RateLimit > 0 {
		return k.RateLimit
	}
	return k.Environment.DefaultRateLimit()
}

// Address is a postal address.
type Address struct {
	Line1 string `json:"address_line_1,omitempty"`
	Line2 string `json:"address_line_2,omitempty"`
	Line3 string `json:"address_line_3,omitempty"`
	City  string `json:"city,omitempty"`
	State string `json:"state,omitempty"`
	Zip   string `json:"zip_code,omitempty"`
}

// IsZero reports whether no part of the address is set.
func (a Address) IsZero() bool { return a == Address{} }

// Practitioner is a prescriber onboarded by a partner for a clinic.
type Practitioner struct {
	ID                string    `json:"id"`
	ClinicID          string    `json:"clinic_id"`
	Status            string    `json:"status"`
	FirstName         string    `json:"first_name"`
	LastName          string    `json:"last_name"`
	Email             string    `json:"email"`
	NPI               string    `json:"npi"`
	IsVeterinarian    bool      `json:"is_veterinarian"`
	Phone             string    `json:"phone,omitempty"`
	Credentials       string    `json:"credentials,omitempty"`
	Specialty         string    `json:"specialty,omitempty"`
	LicenseNumber     string    `json:"license_number,omitempty"`
	LicenseState      string    `json:"license_state,omitempty"`
	LicenseExpiration string    `json:"license_expiration,omitempty"`
	DEANumber         string    `json:"dea_number,omitempty"`
	DEAExpiration     string    `json:"dea_expiration,omitempty"`
	SignatureImage    string    `json:"signature_image,omitempty"`
	Address           Address   `json:"address"`
	CreatedAt         time.Time `json:"created_at"`
}

// Practitioner statuses.
const (
	PractitionerPending = "pending"
	PractitionerActive  = "active"
)

// Contact is one contact point of a patient.
type Contact struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ContactPreferences says how a patient prefers to be contacted.
type ContactPreferences struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	Phone bool `json:"phone"`
}

// Patient is a person (or animal) registered by a partner for a clinic.
type Patient struct {
	ID                  string              `json:"id"`
	ClinicID            string              `json:"clinic_id"`
	PractitionerID      string              `json:"practitioner_id,omitempty"`
	Status              string              `json:"status"`
	FirstName           string              `json:"first_name"`
	MiddleName          string              `json:"middle_name,omitempty"`
	LastName            string              `json:"last_name"`
	DateOfBirth         string              `json:"date_of_birth"`
	Gender              string              `json:"gender,omitempty"`
	Species             string              `json:"species"`
	AnimalOwnerName     string              `json:"animal_owner_name,omitempty"`
	Weight              string              `json:"weight,omitempty"`
	WeightRecordedDate  string              `json:"weight_recorded_date,omitempty"`
	Height              string              `json:"height,omitempty"`
	Email               string              `json:"email,omitempty"`
	Phone               string              `json:"phone,omitempty"`
	Contacts            []Contact           `json:"contacts"`
	Address             Address             `json:"address"`
	MedicationAllergies []string            `json:"medication_allergies"`
	MedicalHistory      string              `json:"medical_history,omitempty"`
	ContactPreferences  *ContactPreferences `json:"preferred_contact_methods,omitempty"`
	Notes               string              `json:"notes,omitempty"`
	CreatedAt           time.Time           `json:"created_at"`
}

// AuditRecord is one entry of the tamper-evident audit trail. It never holds
// a key or a PHI value: only identifiers and outcomes.
type AuditRecord struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	// ClientRequestID is the client's own X-Request-Id (validated), kept
	// beside the server's RequestID.
	ClientRequestID string `json:"client_request_id,omitempty"`
	// Actor says who acted beyond the key: operator:<id>, key:<id>,
	// partner_user:<id>, system:<job>, local:<os user>.
	Actor        string   `json:"actor,omitempty"`
	KeyID        string   `json:"key_id,omitempty"`
	KeyOwner     string   `json:"key_owner,omitempty"`
	KeyPrefix    string   `json:"key_prefix,omitempty"`
	ClinicID     string   `json:"clinic_id,omitempty"`
	Action       string   `json:"action"`
	ResourceType string   `json:"resource_type,omitempty"`
	ResourceIDs  []string `json:"resource_ids,omitempty"`
	ClientAddr   string   `json:"client_addr,omitempty"`
	UserAgent    string   `json:"user_agent,omitempty"`
	Status       int      `json:"status"`
	// LatencyUS is how long the request had taken when its record was
	// made, in microseconds.
	LatencyUS int64  `json:"latency_us,omitempty"`
	PrevHash  string `json:"prev_hash"`
	Hash      string `json:"hash"`
	// Format is the version of the canonical encoding the record is
	// hashed in (audit.FormatVersion for new records; 0 or 1: the first,
	// json.Marshal of this struct). Not part of any encoding.
	Format int `json:"-"`
}

// IdempotencyRecord is a remembered response to a request that carried an
// Idempotency-Key, scoped to the key owner. Fingerprint is a keyed hash of
// the request (never a plain hash: the body holds PHI).
type IdempotencyRecord struct {
	Owner       string    `json:"owner"`
	Key         string    `json:"key"`
	Fingerprint string    `json:"fingerprint"`
	Status      int       `json:"status"`
	Body        []byte    `json:"body"`
	CreatedAt   time.Time `json:"created_at"`
	// ClinicID and ResourceIDs are what the remembered answer is about, so
	// that a replay is audited with them (it repeats their PHI).
	ClinicID    string   `json:"clinic_id,omitempty"`
	ResourceIDs []string `json:"resource_ids,omitempty"`
}
