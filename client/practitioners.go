package client

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// Address is a US postal address as the API answers it.
type Address struct {
	Line1 string `json:"address_line_1,omitempty"`
	Line2 string `json:"address_line_2,omitempty"`
	Line3 string `json:"address_line_3,omitempty"`
	City  string `json:"city,omitempty"`
	// State is a two-letter code ("TX"); a full name is accepted on input.
	State string `json:"state,omitempty"`
	Zip   string `json:"zip_code,omitempty"`
}

// wireAddress is an Address as a request body sends it: the server reads the
// third line only as "line3" (see docs/sdk.md).
type wireAddress struct {
	Line1 string `json:"address_line_1,omitempty"`
	Line2 string `json:"address_line_2,omitempty"`
	Line3 string `json:"line3,omitempty"`
	City  string `json:"city,omitempty"`
	State string `json:"state,omitempty"`
	Zip   string `json:"zip_code,omitempty"`
}

func toWire(a *Address) *wireAddress {
	if a == nil {
		return nil
	}
	w := wireAddress(*a)
	return &w
}

// Practitioner statuses.
const (
	PractitionerPending = "pending"
	PractitionerActive  = "active"
)

// Practitioner is a prescriber onboarded for a clinic.
type Practitioner struct {
	ID                string    `json:"id"`
	ClinicID          string    `json:"clinic_id"`
	Status            string    `json:"status"` // PractitionerPending until NovaMed verifies, then PractitionerActive
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
	LicenseExpiration string    `json:"license_expiration,omitempty"` // YYYY-MM-DD
	DEANumber         string    `json:"dea_number,omitempty"`
	DEAExpiration     string    `json:"dea_expiration,omitempty"` // YYYY-MM-DD
	SignatureImage    string    `json:"signature_image,omitempty"`
	Address           Address   `json:"address"`
	CreatedAt         time.Time `json:"created_at"`
}

// CreatePractitionerRequest onboards a practitioner. ClinicID, FirstName,
// LastName, Email and NPI are required.
type CreatePractitionerRequest struct {
	ClinicID          string `json:"clinic_id"`
	FirstName         string `json:"first_name"`
	LastName          string `json:"last_name"`
	Email             string `json:"email"`
	NPI               string `json:"npi"` // 10 digits (production also checks the check digit)
	IsVeterinarian    bool   `json:"is_veterinarian,omitempty"`
	Phone             string `json:"phone,omitempty"`
	Credentials       string `json:"credentials,omitempty"`
	Specialty         string `json:"specialty,omitempty"`
	LicenseNumber     string `json:"license_number,omitempty"`
	LicenseState      string `json:"license_state,omitempty"`
	LicenseExpiration string `json:"license_expiration,omitempty"` // YYYY-MM-DD
	DEANumber         string `json:"dea_number,omitempty"`
	DEAExpiration     string `json:"dea_expiration,omitempty"`  // YYYY-MM-DD
	SignatureImage    string `json:"signature_image,omitempty"` // base64 image, at most 512 KiB
	AddressLine1      string `json:"address_line_1,omitempty"`
	AddressLine2      string `json:"address_line_2,omitempty"`
	City              string `json:"city,omitempty"`
	StateCode         string `json:"state_code,omitempty"`
	ZipCode           string `json:"zip_code,omitempty"`
}

// PractitionersService is /api/external/practitioner.
type PractitionersService struct{ c *Client }

const practitionerPath = "/api/external/practitioner"

// Create onboards a practitioner (status pending). A second practitioner
// with the same NPI in the clinic is a 400 DUPLICATE.
func (s *PractitionersService) Create(ctx context.Context, req *CreatePractitionerRequest, opts ...CallOption) (*Practitioner, error) {
	var p Practitioner
	if err := s.c.call(ctx, call{method: http.MethodPost, path: practitionerPath, body: req}, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

// Get returns one practitioner; an unknown id is a 404 (IsNotFound).
func (s *PractitionersService) Get(ctx context.Context, id string, opts ...CallOption) (*Practitioner, error) {
	var p Practitioner
	if err := s.c.get(ctx, practitionerPath+"/"+pathEscape(id), nil, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

// List ranges over practitioners, newest first, fetching pages as needed.
func (s *PractitionersService) List(ctx context.Context, p ListParams, opts ...CallOption) iter.Seq2[*Practitioner, error] {
	return paginate[Practitioner](ctx, s.c, practitionerPath, p.values(), opts)
}

// ListPage fetches one page of practitioners.
func (s *PractitionersService) ListPage(ctx context.Context, p ListParams, opts ...CallOption) (*Page[Practitioner], error) {
	return listPage[Practitioner](ctx, s.c, practitionerPath, p.values(), opts)
}
