package sdktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/client"
)

// asAPIError unwraps err (through a wrapper, as callers' code would) to its
// *APIError.
func asAPIError(t *testing.T, err error) *client.APIError {
	t.Helper()
	var e *client.APIError
	if !errors.As(fmt.Errorf("wrapped by the caller: %w", err), &e) {
		t.Fatalf("%v (%T) is not an *APIError", err, err)
	}
	if e.RequestID == "" || e.Message == "" || e.Error() == "" {
		t.Fatalf("incomplete APIError %+v", e)
	}
	return e
}

type kinds struct{ notFound, unauthorized, rateLimited, validation, conflict bool }

func kindsOf(err error) kinds {
	err = fmt.Errorf("layer: %w", err)
	return kinds{client.IsNotFound(err), client.IsUnauthorized(err), client.IsRateLimited(err), client.IsValidation(err), client.IsConflict(err)}
}

func TestErrorKinds(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	c := env.client()

	t.Run("401 bad key", func(t *testing.T) {
		bad := client.New("dev_not-a-real-key", client.WithBaseURL(env.URL))
		_, err := bad.Me(ctx)
		e := asAPIError(t, err)
		if e.StatusCode != 401 || e.Code != client.CodeUnauthorized || !errors.Is(err, client.ErrUnauthorized) ||
			e.Message != "Unauthorized. This can happen if the access token is invalid, expired or has been revoked" {
			t.Fatalf("%+v", e)
		}
		if k := kindsOf(err); k != (kinds{unauthorized: true}) {
			t.Fatalf("kinds %+v", k)
		}
	})

	t.Run("400 validation with fields", func(t *testing.T) {
		var info client.ResponseInfo
		_, err := c.Patients.Create(ctx, &client.CreatePatientRequest{ClinicID: env.ClinicID, FirstName: "J", DateOfBirth: "2999-01-01",
			Email: "not-an-email"}, client.WithResponseInfo(&info))
		e := asAPIError(t, err)
		if e.StatusCode != 400 || e.Code != client.CodeValidation || info.Attempts != 1 {
			t.Fatalf("%+v (attempts %d)", e, info.Attempts)
		}
		var fields []string
		for _, f := range e.Fields {
			fields = append(fields, f.Field)
			if f.Message == "" {
				t.Errorf("field %s without message", f.Field)
			}
		}
		for _, want := range []string{"first_name", "last_name", "date_of_birth", "email"} {
			if !slices.Contains(fields, want) {
				t.Errorf("fields %v lack %s", fields, want)
			}
		}
		if k := kindsOf(err); k != (kinds{validation: true}) {
			t.Fatalf("kinds %+v", k)
		}
	})

	t.Run("400 clinic not found", func(t *testing.T) {
		_, err := c.Patients.Create(ctx, newPatient(uuid.NewString(), "John"))
		e := asAPIError(t, err)
		if e.StatusCode != 400 || e.Code != client.CodeClinicNotFound || e.Message != "Clinic not found" {
			t.Fatalf("%+v", e)
		}
		if k := kindsOf(err); k != (kinds{validation: true}) {
			t.Fatalf("kinds %+v", k)
		}
		// A clinic of another partner gets the same answer.
		other, err := env.createClinic("Elsewhere")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Practitioners.Create(ctx, newPractitioner(other))
		if e := asAPIError(t, err); e.Code != client.CodeClinicNotFound {
			t.Fatalf("%+v", e)
		}
		_, err = c.Patients.Create(ctx, newPatient("not-a-uuid", "John"))
		if e := asAPIError(t, err); e.StatusCode != 400 || e.Code != client.CodeInvalidClinicID {
			t.Fatalf("%+v", e)
		}
	})

	t.Run("404", func(t *testing.T) {
		for _, id := range []string{uuid.NewString(), "not-a-uuid", "../me"} {
			_, err := c.Patients.Get(ctx, id)
			e := asAPIError(t, err)
			if e.StatusCode != 404 || !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("Get(%q): %+v", id, e)
			}
			if k := kindsOf(err); k != (kinds{notFound: true}) {
				t.Fatalf("kinds %+v", k)
			}
		}
		_, err := c.MedicationOrders.Get(ctx, uuid.NewString())
		if e := asAPIError(t, err); e.Code != client.CodeNotFound || e.Message != "Medication order not found" {
			t.Fatalf("%+v", e)
		}
		_, err = c.Webhooks.Delete(ctx, uuid.NewString())
		if !client.IsNotFound(err) {
			t.Fatalf("delete unknown webhook: %v", err)
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		if _, err := c.Practitioners.Create(ctx, newPractitioner(env.ClinicID)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Practitioners.Create(ctx, newPractitioner(env.ClinicID))
		e := asAPIError(t, err)
		if e.StatusCode != 400 || e.Code != client.CodeDuplicate || len(e.Fields) != 1 || e.Fields[0].Field != "npi" {
			t.Fatalf("%+v", e)
		}
		if k := kindsOf(err); k != (kinds{conflict: true}) { // a duplicate is a conflict only
			t.Fatalf("kinds %+v", k)
		}
	})

	t.Run("422 idempotency key reused", func(t *testing.T) {
		key := "partner-patient-" + uuid.NewString()
		var first, again client.ResponseInfo
		p, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "Idem"), client.WithIdempotencyKey(key), client.WithResponseInfo(&first))
		if err != nil {
			t.Fatal(err)
		}
		// The same request again is answered from the record.
		p2, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "Idem"), client.WithIdempotencyKey(key), client.WithResponseInfo(&again))
		if err != nil || p2.ID != p.ID || !again.Replayed || first.Replayed || again.IdempotencyKey != key {
			t.Fatalf("replay: %+v, %v, %+v", p2, err, again)
		}
		// Another request with that key is refused.
		_, err = c.Patients.Create(ctx, newPatient(env.ClinicID, "Different"), client.WithIdempotencyKey(key))
		e := asAPIError(t, err)
		if e.StatusCode != 422 || e.Code != client.CodeIdempotencyKeyReused {
			t.Fatalf("%+v", e)
		}
		if k := kindsOf(err); k != (kinds{conflict: true}) {
			t.Fatalf("kinds %+v", k)
		}
	})

	t.Run("429 rate limit", func(t *testing.T) {
		key := env.mustKey(t, 1, env.ClinicID) // one request per minute
		limited := client.New(key, client.WithBaseURL(env.URL), client.WithMaxRetries(0))
		if _, err := limited.Me(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := limited.Me(ctx)
		e := asAPIError(t, err)
		if e.StatusCode != 429 || e.Code != client.CodeRateLimited || e.RetryAfter < time.Second || e.RetryAfter > time.Minute {
			t.Fatalf("%+v", e)
		}
		if k := kindsOf(err); k != (kinds{rateLimited: true}) {
			t.Fatalf("kinds %+v", k)
		}
		// With retries on, a Retry-After longer than the caller's deadline
		// is answered at once rather than slept through.
		retrying := client.New(key, client.WithBaseURL(env.URL))
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err = retrying.Patients.Create(dctx, newPatient(env.ClinicID, "Limited"))
		if !client.IsRateLimited(err) || time.Since(start) > 2*time.Second {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	})
}

// TestAddressLines: every line of an address survives the round trip (the
// SDK sends the third line as the server reads it).
func TestAddressLines(t *testing.T) {
	env := startEnv(t)
	c := env.client()
	ctx := context.Background()
	addr := client.Address{Line1: "1 Main St", Line2: "Building 2", Line3: "Floor 3", City: "Dallas", State: "texas", Zip: "75201"}
	p, err := c.Patients.Create(ctx, &client.CreatePatientRequest{ClinicID: env.ClinicID, FirstName: "Ann", LastName: "Lee",
		DateOfBirth: "1990-01-02", Address: &addr})
	if err != nil {
		t.Fatal(err)
	}
	addr.State = "TX"
	if p.Address != addr {
		t.Fatalf("address = %+v, want %+v", p.Address, addr)
	}
}

func TestInvalidBaseURL(t *testing.T) {
	c := client.New("dev_x", client.WithBaseURL("ftp://example.com"))
	if _, err := c.Me(context.Background()); err == nil {
		t.Fatal("ftp base URL accepted")
	}
}
