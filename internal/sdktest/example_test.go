package sdktest

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/novamed/partner-api/client"
)

// The quickstart: onboard a practitioner, register a patient, quote
// shipping and order a medication. Each create carries an Idempotency-Key
// derived from the partner's own record, so running the program twice
// creates nothing twice (the second run gets the first run's answers).
func Example_quickstart() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"), client.WithBaseURL(os.Getenv("NOVAMED_BASE_URL")))
	clinic := os.Getenv("NOVAMED_CLINIC_ID")

	dr, err := c.Practitioners.Create(ctx, &client.CreatePractitionerRequest{
		ClinicID: clinic, FirstName: "Sarah", LastName: "Johnson",
		Email: "dr.johnson@clinic.com", NPI: "1234567893",
	}, client.WithIdempotencyKey("quickstart-practitioner-1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("practitioner:", dr.FirstName, dr.LastName, dr.Status)

	patient, err := c.Patients.Create(ctx, &client.CreatePatientRequest{
		ClinicID: clinic, FirstName: "John", LastName: "Smith", DateOfBirth: "1985-03-15",
		Email:   "john.smith@email.com",
		Address: &client.Address{Line1: "100 Congress Ave", City: "Austin", State: "TX", Zip: "78701"},
	}, client.WithIdempotencyKey("quickstart-patient-1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("patient:", patient.FirstName, patient.LastName, patient.Address.State)

	quote, err := c.Carriers.Services(ctx, "se-3818360", patient.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range quote.Services {
		fmt.Printf("quote: %s to %s $%.2f\n", s.Name, quote.PatientState, s.TotalCost)
	}

	order, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{
		ClinicID: clinic, PatientID: patient.ID, PractitionerID: dr.ID,
		CarrierID: "se-3818360", ServiceID: "fedex_ground",
		MedicationRequests: []client.MedicationRequestParams{{
			Medication: "Semaglutide", Dose: "0.25 mg", Quantity: "4",
			Direction: "Inject 0.25 mg under the skin once weekly", Refills: 2,
		}},
	}, client.WithIdempotencyKey("quickstart-order-1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("order: %s, shipping $%.2f\n", order.Status, order.ShippingCost)

	// Lists are iterators that fetch pages as the loop goes on.
	for o, err := range c.MedicationOrders.List(ctx, client.MedicationOrderListParams{PatientID: patient.ID}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("listed:", o.ID == order.ID, o.MedicationRequests[0].Medication, o.MedicationRequests[0].Sig)
	}
	// Output:
	// practitioner: Sarah Johnson pending
	// patient: John Smith TX
	// quote: FedEx Ground® to Texas $32.44
	// quote: FedEx 2Day® to Texas $56.43
	// quote: FedEx Priority Overnight® to Texas $118.10
	// order: created, shipping $32.44
	// listed: true Semaglutide Inject 0.25 mg under the skin once weekly
}

// Errors are *client.APIError values: errors.As gives the status, code,
// message, field problems and request id; the Is… helpers classify them and
// see through wrapping.
func Example_apiError() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"), client.WithBaseURL(os.Getenv("NOVAMED_BASE_URL")))

	_, err := c.Patients.Get(ctx, "01a21b03-0000-7000-8000-000000000000")
	if client.IsNotFound(err) {
		fmt.Println("no such patient")
	}

	_, err = c.Patients.Create(ctx, &client.CreatePatientRequest{
		ClinicID: os.Getenv("NOVAMED_CLINIC_ID"), FirstName: "John", DateOfBirth: "15/03/1985",
	})
	err = fmt.Errorf("registering John: %w", err) // your own wrapping is fine
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, client.IsValidation(err))
		for _, f := range apiErr.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}
	// Output:
	// no such patient
	// 400 VALIDATION_ERROR true
	// last_name: last_name is required.
	// date_of_birth: date_of_birth must be a date (YYYY-MM-DD or RFC 3339).
}

// A patient moves and has a new allergy: send only what changes (a JSON
// merge patch). The next order ships to the new address; orders already
// placed keep theirs. Clear removes a field.
func Example_patientUpdate() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"), client.WithBaseURL(os.Getenv("NOVAMED_BASE_URL")))
	patient, err := c.Patients.Create(ctx, &client.CreatePatientRequest{
		ClinicID: os.Getenv("NOVAMED_CLINIC_ID"), FirstName: "Mona", MiddleName: "Q", LastName: "Mover", DateOfBirth: "1979-02-03",
		Address:             &client.Address{Line1: "1 Old Road", City: "Austin", State: "TX", Zip: "78701"},
		MedicationAllergies: []string{"Penicillin"},
	}, client.WithIdempotencyKey("example-update-patient-1"))
	if err != nil {
		log.Fatal(err)
	}

	moved, err := c.Patients.Update(ctx, patient.ID, &client.UpdatePatientRequest{
		Address:             &client.Address{Line1: "9 New Street", Zip: "78702"}, // city and state stay
		Phone:               client.Ptr("512-555-0142"),
		MedicationAllergies: client.Ptr([]string{"Penicillin", "Latex"}),
		Clear:               []string{"middle_name"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(moved.Address.Line1, moved.Address.City, moved.Address.Zip)
	fmt.Println(moved.MedicationAllergies, moved.MiddleName == "")
	// Output:
	// 9 New Street Austin 78702
	// [Penicillin Latex] true
}

// An order can be cancelled, with a reason, until NovaMed's pharmacy has
// it (created or verified); afterwards the answer is a 400
// ORDER_NOT_CANCELLABLE naming the order's status.
func Example_orderCancel() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"), client.WithBaseURL(os.Getenv("NOVAMED_BASE_URL")))
	clinic := os.Getenv("NOVAMED_CLINIC_ID")
	dr, err := c.Practitioners.Create(ctx, &client.CreatePractitionerRequest{
		ClinicID: clinic, FirstName: "Carl", LastName: "Canceller", Email: "carl@clinic.test", NPI: "1245319599",
	}, client.WithIdempotencyKey("example-cancel-practitioner-1"))
	if err != nil {
		log.Fatal(err)
	}
	patient, err := c.Patients.Create(ctx, &client.CreatePatientRequest{
		ClinicID: clinic, FirstName: "Cora", LastName: "Cancel", DateOfBirth: "1990-01-01",
		Address: &client.Address{Line1: "5 Elm St", City: "Austin", State: "TX", Zip: "78701"},
	}, client.WithIdempotencyKey("example-cancel-patient-1"))
	if err != nil {
		log.Fatal(err)
	}
	order, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{
		ClinicID: clinic, PatientID: patient.ID, PractitionerID: dr.ID, CarrierID: "se-3818360", ServiceID: "fedex_ground",
		MedicationRequests: []client.MedicationRequestParams{{Medication: "Semaglutide", Dose: "0.25 mg", Quantity: "4", Direction: "Inject weekly"}},
	}, client.WithIdempotencyKey("example-cancel-order-1"))
	if err != nil {
		log.Fatal(err)
	}

	cancelled, err := c.MedicationOrders.Cancel(ctx, order.ID, "Patient switched medication")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cancelled.Status)

	_, err = c.MedicationOrders.Cancel(ctx, order.ID, "Again")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, client.IsValidation(err))
		fmt.Println(apiErr.Message)
	}
	// Output:
	// cancelled
	// ORDER_NOT_CANCELLABLE true
	// Only an order that is created or verified can be cancelled; this order is cancelled.
}
