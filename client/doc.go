// Package client is the Go SDK of the NovaMed Partner API: onboard
// practitioners, register patients, order medications and refills, quote
// shipping and manage webhooks for the clinics your API key was issued for.
// It uses only the standard library.
//
// # Quickstart
//
//	c := client.New(os.Getenv("NOVAMED_API_KEY"),
//		client.WithBaseURL("https://api.novamed.example")) // default http://127.0.0.1:8080
//
//	dr, err := c.Practitioners.Create(ctx, &client.CreatePractitionerRequest{
//		ClinicID: clinicID, FirstName: "Sarah", LastName: "Johnson",
//		Email: "dr.johnson@clinic.com", NPI: "1234567893",
//	})
//	patient, err := c.Patients.Create(ctx, &client.CreatePatientRequest{
//		ClinicID: clinicID, FirstName: "John", LastName: "Smith", DateOfBirth: "1985-03-15",
//		Address: &client.Address{Line1: "100 Congress Ave", City: "Austin", State: "TX", Zip: "78701"},
//	})
//	order, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{
//		ClinicID: clinicID, PatientID: patient.ID, PractitionerID: dr.ID,
//		CarrierID: "se-3818360", ServiceID: "fedex_ground",
//		MedicationRequests: []client.MedicationRequestParams{{
//			Medication: "Semaglutide", Dose: "0.25 mg", Quantity: "4",
//			Direction: "Inject 0.25 mg under the skin once weekly"}},
//	})
//
// Every call takes a context.Context first; its cancellation and deadline
// bound the whole call, retries included.
//
// # Lists
//
// List methods return Go 1.23 iterators that follow next_cursor page by
// page as you range, newest first. An error is yielded once and ends the
// loop:
//
//	for p, err := range c.Patients.List(ctx, client.ListParams{Limit: 100}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(p.ID, p.LastName)
//	}
//
// ListPage fetches one page when you need the cursor yourself; Collect
// gathers an iterator into a slice.
//
// # Retries and idempotency
//
// Every POST and DELETE carries an Idempotency-Key: a random UUID, the same
// on every retry of that call, so the server performs the write at most once
// and answers a retry of a completed write from its record (ResponseInfo.Replayed).
// Pass WithIdempotencyKey to choose the key yourself, e.g. from your own
// record's id, so that repeating the whole call later (after a crash or a
// redeploy, within the server's 24 hours) also creates nothing twice.
//
// A call is retried, at most WithMaxRetries times (default 3), after a
// network error or attempt timeout, a 429 or a 503 (waiting the Retry-After the
// server asked for: a 503 STORAGE_UNAVAILABLE or STORAGE_FULL during a database
// failover or restart is ridden through this way), another 5xx, or a 409 IDEMPOTENCY_KEY_IN_USE (the same key still in
// flight). Between attempts the client sleeps with exponential backoff and
// full jitter (WithBackoff). Other 4xx answers are never retried. When the
// context ends during a wait, the call returns at once; when Retry-After
// would outlast the context's deadline, the 429 or 503 is returned without waiting.
//
// # Errors
//
// Every error answer is an *APIError with the HTTP status, the stable Code,
// the Message, the field problems of a validation error (Fields), the
// RequestID for support and RetryAfter. Use errors.As, or the helpers, which
// see through wrapping: IsNotFound (404), IsUnauthorized (401),
// IsRateLimited (429), IsValidation (400: refused as sent) and IsConflict
// (409, 422 IDEMPOTENCY_KEY_REUSED, 400 DUPLICATE); errors.Is works with
// ErrNotFound, ErrUnauthorized, ErrRateLimited, ErrValidation and
// ErrConflict. Network failures are returned wrapped, as from net/http.
//
// # Webhooks
//
// WebhooksService registers webhooks; the create answer holds the
// verification token (the x-api-key of every delivery) and the signing
// secret (keys webhook-signature, never sent), shown only then and again,
// new, at each Rotate. Receivers verify and parse deliveries with package
// github.com/novamed/partner-api/client/webhook (VerifyAndParse,
// VerifyToken).
package client
