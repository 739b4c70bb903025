package api

import (
	"fmt"
	"go/format"
	"regexp"
	"strings"
)

// goSamples are the Go samples of the reference, one per operation: the
// body of a function with ctx (a context.Context) and c (a
// *client.Client, the SDK in package client) in scope. They are the one
// source of the Go x-codeSamples of the served document; the curl samples
// are derived from the document itself. api/codesamples_gen_test.go
// compiles every one of them (go generate ./api writes it; a test fails
// when it is stale).
var goSamples = map[string]string{
	"getHealth": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/healthz") // no key, no SDK call
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
fmt.Println(resp.Status)`,
	"getReadiness": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/readyz") // no key, no SDK call
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
fmt.Println(resp.Status) // 503 while the database does not answer`,
	"getOpenAPIJSON": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/openapi.json")
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
doc, err := io.ReadAll(resp.Body)
if err != nil {
	log.Fatal(err)
}
fmt.Println(len(doc))`,
	"getOpenAPIYAML": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/openapi.yaml")
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
_, err = io.Copy(os.Stdout, resp.Body)
if err != nil {
	log.Fatal(err)
}`,
	"getDocs": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/docs/") // this page
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
fmt.Println(resp.Status, resp.Header.Get("ETag"))`,
	"getDocsSlash": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/docs/") // the same page as /docs
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
fmt.Println(resp.Status)`,
	"getDocsVersionedAsset": `// The page names the current version; a browser keeps the script for a year.
resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/docs/assets/0123456789abcdef/redoc.standalone.js")
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
fmt.Println(resp.Status, resp.Header.Get("Cache-Control"))`,
	"getDocsAsset": `resp, err := http.Get(os.Getenv("NOVAMED_BASE_URL") + "/docs/docs.js")
if err != nil {
	log.Fatal(err)
}
defer resp.Body.Close()
fmt.Println(resp.Status, resp.Header.Get("Cache-Control"))`,
	"getMe": `me, err := c.Me(ctx)
if err != nil {
	log.Fatal(err)
}
fmt.Println(me.Environment, me.Clinics)`,
	"getMyUsage": `usage, err := c.Usage(ctx, 7) // the last 7 days
if err != nil {
	log.Fatal(err)
}
fmt.Println(usage.Totals)`,
	"createPractitioner": `dr, err := c.Practitioners.Create(ctx, &client.CreatePractitionerRequest{
	ClinicID: "550e8400-e29b-41d4-a716-446655440000", FirstName: "Sarah", LastName: "Johnson",
	Email: "dr.johnson@clinic.com", NPI: "1234567893",
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(dr.ID, dr.Status) // pending until NovaMed verifies the practitioner`,
	"listPractitioners": `for dr, err := range c.Practitioners.List(ctx, client.ListParams{}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dr.ID, dr.FirstName, dr.LastName, dr.Status)
}`,
	"getPractitioner": `dr, err := c.Practitioners.Get(ctx, "01935e1a-4b7c-7d2e-8f3a-5b6c7d8e9f01")
if client.IsNotFound(err) {
	log.Fatal("no such practitioner in your clinics")
} else if err != nil {
	log.Fatal(err)
}
fmt.Println(dr.FirstName, dr.LastName, dr.Status)`,
	"updatePractitioner": `dr, err := c.Practitioners.Update(ctx, "01935e1a-4b7c-7d2e-8f3a-5b6c7d8e9f01", &client.UpdatePractitionerRequest{
	Phone:   client.Ptr("+1-555-0142"),
	Address: &client.Address{Line1: "200 New Street", City: "Austin", State: "TX", Zip: "78702"},
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(dr.Phone, dr.Address.Line1)`,
	"createPatient": `patient, err := c.Patients.Create(ctx, &client.CreatePatientRequest{
	ClinicID: "550e8400-e29b-41d4-a716-446655440000", FirstName: "John", LastName: "Smith",
	DateOfBirth: "1985-03-15", Email: "john.smith@email.com",
	Address: &client.Address{Line1: "100 Congress Ave", City: "Austin", State: "TX", Zip: "78701"},
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(patient.ID)`,
	"listPatients": `for p, err := range c.Patients.List(ctx, client.ListParams{Limit: 50}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.ID, p.FirstName, p.LastName)
}`,
	"getPatient": `patient, err := c.Patients.Get(ctx, "01935e1b-1a2b-7c3d-9e4f-5a6b7c8d9e04")
if err != nil {
	log.Fatal(err)
}
fmt.Println(patient.FirstName, patient.LastName, patient.Address.State)`,
	"updatePatient": `// Send only what changes (a JSON merge patch); Clear removes fields.
patient, err := c.Patients.Update(ctx, "01935e1b-1a2b-7c3d-9e4f-5a6b7c8d9e04", &client.UpdatePatientRequest{
	Address:             &client.Address{Line1: "200 New Street", Zip: "78702"},
	Phone:               client.Ptr("+1-555-0142"),
	MedicationAllergies: client.Ptr([]string{"Penicillin", "Latex"}),
	Clear:               []string{"middle_name"},
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(patient.Address.Line1, patient.MedicationAllergies)`,
	"createMedicationOrder": `order, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{
	ClinicID:       "550e8400-e29b-41d4-a716-446655440000",
	PatientID:      "01935e1b-1a2b-7c3d-9e4f-5a6b7c8d9e04",
	PractitionerID: "01935e1a-4b7c-7d2e-8f3a-5b6c7d8e9f01",
	CarrierID:      "se-3818360", ServiceID: "fedex_ground",
	MedicationRequests: []client.MedicationRequestParams{{
		Medication: "Semaglutide", Dose: "0.25 mg", Quantity: "4",
		Direction: "Inject 0.25 mg under the skin once weekly", Refills: 2,
	}},
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(order.ID, order.Status, order.ShippingCost)`,
	"listMedicationOrders": `for o, err := range c.MedicationOrders.List(ctx, client.MedicationOrderListParams{Status: "shipped"}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.ID, o.Status)
}`,
	"getMedicationOrder": `order, err := c.MedicationOrders.Get(ctx, "01935e1c-0a1b-7c2d-8e3f-4a5b6c7d8e08")
if err != nil {
	log.Fatal(err)
}
fmt.Println(order.Status, len(order.Shipments))`,
	"cancelMedicationOrder": `order, err := c.MedicationOrders.Cancel(ctx, "01935e1c-0a1b-7c2d-8e3f-4a5b6c7d8e08", "Patient switched to another medication")
var apiErr *client.APIError
if errors.As(err, &apiErr) && apiErr.Code == client.CodeOrderNotCancellable {
	log.Fatal(apiErr.Message) // names the order's status
} else if err != nil {
	log.Fatal(err)
}
fmt.Println(order.Status) // cancelled`,
	"sandboxCancelShipment": `order, err := c.MedicationOrders.SandboxCancelShipment(ctx, "01935e1c-0a1b-7c2d-8e3f-4a5b6c7d8e08", "Returned to sender")
if err != nil {
	log.Fatal(err)
}
fmt.Println(order.Status) // filled`,
	"createRefillRequest": `refill, err := c.Refills.Create(ctx, &client.CreateRefillRequest{
	MedicationRequestID: "01935e1c-0a1b-7c2d-8e3f-4a5b6c7d8e09",
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(refill.RefillRequestID, refill.MedicationOrderID)`,
	"listRefillRequests": `for r, err := range c.Refills.List(ctx, client.ListParams{}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.ID, r.Status)
}`,
	"getRefillRequest": `refill, err := c.Refills.Get(ctx, "01935e1d-2c3d-7e4f-8a5b-6c7d8e9f0a1b")
if err != nil {
	log.Fatal(err)
}
fmt.Println(refill.Status)`,
	"listMedications": `for m, err := range c.Medications.List(ctx, client.ListParams{ClinicID: "550e8400-e29b-41d4-a716-446655440000"}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name)
}`,
	"listCarriers": `carriers, err := c.Carriers.List(ctx)
if err != nil {
	log.Fatal(err)
}
for _, carrier := range carriers {
	fmt.Println(carrier.ID, carrier.Name)
}`,
	"listCarrierServices": `quote, err := c.Carriers.Services(ctx, "se-3818360", "01935e1b-1a2b-7c3d-9e4f-5a6b7c8d9e04")
if err != nil {
	log.Fatal(err)
}
for _, s := range quote.Services {
	fmt.Printf("%s to %s: $%.2f\n", s.Name, quote.PatientState, s.TotalCost)
}`,
	"createWebhook": `wh, err := c.Webhooks.Create(ctx, &client.CreateWebhookRequest{
	ClinicID: "550e8400-e29b-41d4-a716-446655440000", WebhookURL: "https://partner.example.com/novamed/events",
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(wh.ID) // store wh.Secret now: it is shown once`,
	"listWebhooks": `for wh, err := range c.Webhooks.List(ctx, client.ListParams{}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wh.ID, wh.WebhookURL)
}`,
	"deleteWebhook": `deleted, err := c.Webhooks.Delete(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c")
if err != nil {
	log.Fatal(err)
}
fmt.Println(deleted)`,
	"getWebhook": `wh, err := c.Webhooks.Get(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c")
if err != nil {
	log.Fatal(err)
}
fmt.Println(wh.WebhookURL)`,
	"deleteWebhookById": `deleted, err := c.Webhooks.Delete(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c")
if err != nil {
	log.Fatal(err)
}
fmt.Println(deleted)`,
	"listWebhookDeliveries": `for d, err := range c.Webhooks.Deliveries(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c", client.DeliveryListParams{Status: client.DeliveryFailed}) {
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.ID, d.EventName, d.Status)
}`,
	"retryWebhookDelivery": `d, err := c.Webhooks.RetryDelivery(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c", "01935e1f-4e5f-7a6b-8c7d-8e9f0a1b2c3d")
if err != nil {
	log.Fatal(err)
}
fmt.Println(d.Status) // pending: sent again shortly`,
	"rotateWebhookSecrets": `wh, err := c.Webhooks.Rotate(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c", &client.RotateWebhookRequest{
	Overlap: client.Ptr(24 * time.Hour), // deliveries carry the old token and both signatures meanwhile
})
if err != nil {
	log.Fatal(err)
}
fmt.Println(wh.VerificationToken != "", wh.SigningSecret != "") // store both now: shown once`,
	"sendWebhookTestEvent": `sent, err := c.Webhooks.Test(ctx, "01935e1e-3d4e-7f5a-8b6c-7d8e9f0a1b2c")
if err != nil {
	log.Fatal(err)
}
fmt.Println(sent)`,
}

// clientUse matches a sample's use of the SDK client c or of ctx.
var clientUse = regexp.MustCompile(`(^|[^A-Za-z0-9_.])(c\.[A-Z]|ctx\b)`)

// usesClient reports whether a sample needs the client setup before it.
func usesClient(src string) bool { return clientUse.MatchString(src) }

// goSampleSetup is shown before each SDK sample.
const goSampleSetup = `c := client.New(os.Getenv("NOVAMED_API_KEY"), client.WithBaseURL(os.Getenv("NOVAMED_BASE_URL")))
ctx := context.Background()
`

// GoSamplesTestFile renders api/codesamples_gen_test.go: every Go sample
// as the body of a function, so that `go test ./api` compiles them all
// against the SDK (go generate ./api writes it).
func GoSamplesTestFile() []byte {
	var b strings.Builder
	b.WriteString(`// Code generated by go generate ./api (api/internal/gensamples); DO NOT EDIT.

package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/novamed/partner-api/client"
)

// The imports every sample may use, kept in use.
var (
	_ = context.Background
	_ = errors.As
	_ = fmt.Println
	_ = io.Copy
	_ = log.Fatal
	_ = http.Get
	_ = os.Getenv
	_ = time.Hour
	_ = client.New
)

// goSamples are the Go samples of the reference by operationId, compiled.
var goSamples = map[string]func(){
`)
	for _, id := range GoSampleIDs() {
		fmt.Fprintf(&b, "\t%q: sample_%s,\n", id, id)
	}
	b.WriteString("}\n")
	for _, id := range GoSampleIDs() {
		src := goSamples[id]
		if usesClient(src) {
			src = goSampleSetup + src
		}
		fmt.Fprintf(&b, "\nfunc sample_%s() {\n", id)
		for _, line := range strings.Split(src, "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("\t" + line + "\n")
		}
		b.WriteString("}\n")
	}
	out, err := format.Source([]byte(b.String()))
	if err != nil {
		return []byte(b.String()) // the test's compile step shows the error
	}
	return out
}
