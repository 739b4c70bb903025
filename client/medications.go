package client

import (
	"context"
	"iter"
)

// Medication is one entry of a clinic's formulary: a medication the clinic
// may order. Orders are matched on Name (case-insensitive, trimmed).
type Medication struct {
	Name           string   `json:"name"`
	Strengths      []string `json:"strengths"` // the doses NovaMed dispenses, e.g. "0.25 mg"
	UnitOfMeasure  string   `json:"unit_of_measure"`
	IsRefrigerated bool     `json:"is_refrigerated"`
}

// MedicationsService is /api/external/medications: the formulary of a
// clinic, which every medication order line must name.
type MedicationsService struct{ c *Client }

const medicationsPath = "/api/external/medications"

// List ranges over the formulary of p.ClinicID (required), in name order.
func (s *MedicationsService) List(ctx context.Context, p ListParams, opts ...CallOption) iter.Seq2[*Medication, error] {
	return paginate[Medication](ctx, s.c, medicationsPath, p.values(), opts)
}

// ListPage fetches one page of the formulary of p.ClinicID (required).
func (s *MedicationsService) ListPage(ctx context.Context, p ListParams, opts ...CallOption) (*Page[Medication], error) {
	return listPage[Medication](ctx, s.c, medicationsPath, p.values(), opts)
}
