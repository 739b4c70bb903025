package sdktest

import (
	"context"
	"errors"
	"testing"

	"github.com/novamed/partner-api/client"
	"github.com/novamed/partner-api/internal/novamed"
)

// TestMedicationsList: the SDK pages through a clinic's formulary in name
// order, and another clinic's formulary is "Clinic not found".
func TestMedicationsList(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	own := []novamed.FormularyEntry{
		{Name: "Semaglutide", Strengths: []string{"0.25 mg", "0.5 mg"}, UnitOfMeasure: "mg", IsRefrigerated: true},
		{Name: "Aspirin", Strengths: []string{"81mg"}, UnitOfMeasure: "mg"},
		{Name: "Metformin", Strengths: []string{"500 mg"}, UnitOfMeasure: "tablet"},
	}
	if err := env.Store.ReplaceFormulary(ctx, env.ClinicID, own); err != nil {
		t.Fatal(err)
	}
	c := env.client()
	first, err := c.Medications.ListPage(ctx, client.ListParams{ClinicID: env.ClinicID, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 2 || first.Items[0].Name != "Aspirin" || first.Items[1].Name != "Metformin" || first.NextCursor == "" {
		t.Fatalf("first page = %+v", first)
	}
	all, err := client.Collect(c.Medications.List(ctx, client.ListParams{ClinicID: env.ClinicID, Limit: 2}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range all {
		names = append(names, m.Name)
	}
	if len(all) != 3 || names[2] != "Semaglutide" || !all[2].IsRefrigerated || all[2].Strengths[1] != "0.5 mg" || all[2].UnitOfMeasure != "mg" {
		t.Fatalf("formulary = %v %+v", names, all[2])
	}

	other, err := env.createClinic("Other Clinic")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Medications.ListPage(ctx, client.ListParams{ClinicID: other})
	if e := (*client.APIError)(nil); !errors.As(err, &e) || e.Code != client.CodeClinicNotFound {
		t.Fatalf("another clinic's formulary: %v", err)
	}
}
