package client_test

// These examples are compiled (and vetted) with the SDK's own tests, which
// need nothing but the standard library. The examples that print what a
// real Partner API answers (the quickstart, errors, updates, cancellation)
// run against an in-process server in the server module: see
// internal/sdktest/example_test.go in github.com/novamed/partner-api.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/novamed/partner-api/client"
)

// A 429 that outlasts the client's retries carries the wait the server asked for.
func ExampleIsRateLimited() {
	c := client.New(os.Getenv("NOVAMED_API_KEY"))
	_, err := c.Me(context.Background())
	var apiErr *client.APIError
	if client.IsRateLimited(err) && errors.As(err, &apiErr) {
		time.Sleep(apiErr.RetryAfter)
	}
}

// Register a webhook and keep its two secrets: they are shown only in this answer.
// Verify deliveries with package client/webhook (see its VerifyAndParse).
func ExampleWebhooksService_Create() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"))
	wh, err := c.Webhooks.Create(ctx, &client.CreateWebhookRequest{
		ClinicID:   os.Getenv("NOVAMED_CLINIC_ID"),
		WebhookURL: "https://hooks.partner.example/novamed",
	})
	if err != nil {
		log.Fatal(err)
	}
	// Store wh.VerificationToken (the x-api-key of deliveries) and
	// wh.SigningSecret (verifies webhook-signature) in your secret manager,
	// then send a test event.
	if _, err := c.Webhooks.Test(ctx, wh.ID); err != nil {
		log.Fatal(err)
	}
}

// Rotate a webhook's secrets: for a day deliveries still carry the old
// token and are signed with the old and the new secret, so the receiver can
// switch to the new ones at any moment of that day.
func ExampleWebhooksService_Rotate() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"))
	day := 24 * time.Hour
	wh, err := c.Webhooks.Rotate(ctx, os.Getenv("NOVAMED_WEBHOOK_ID"), &client.RotateWebhookRequest{Overlap: &day})
	if err != nil {
		log.Fatal(err)
	}
	// Store the new wh.VerificationToken and wh.SigningSecret before wh.OverlapUntil.
	_ = wh
}

// Page through a list yourself when you need the cursor, e.g. to resume later.
func ExamplePatientsService_ListPage() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"))
	params := client.ListParams{Limit: 100}
	for {
		page, err := c.Patients.ListPage(ctx, params)
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range page.Items {
			fmt.Println(p.ID, p.LastName)
		}
		if page.NextCursor == "" {
			break
		}
		params.Cursor = page.NextCursor // save it to resume here
	}
}

// Choose your own Idempotency-Key when the create stands for a record of
// yours: a retry by your job runner then replays instead of duplicating.
func ExampleWithIdempotencyKey() {
	ctx := context.Background()
	c := client.New(os.Getenv("NOVAMED_API_KEY"))
	var info client.ResponseInfo
	_, err := c.Patients.Create(ctx, &client.CreatePatientRequest{
		ClinicID: os.Getenv("NOVAMED_CLINIC_ID"), FirstName: "John", LastName: "Smith", DateOfBirth: "1985-03-15",
	}, client.WithIdempotencyKey("patient-crm-48213"), client.WithResponseInfo(&info))
	if err != nil {
		log.Fatal(err)
	}
	if info.Replayed {
		fmt.Println("already registered by an earlier run")
	}
}
