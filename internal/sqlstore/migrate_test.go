package sqlstore_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestShipmentsMigration: migration 00008 moves an order's shipment from
// medication_orders.shipment into the shipments table and back, so an
// upgraded database reads its shipped orders as before, with the shipment
// listed as the order's one active shipment.
func TestShipmentsMigration(t *testing.T) {
	ring := testKeyring(t)
	path := filepath.Join(t.TempDir(), "novamed.db")
	testShipmentsMigration(t, goose.DialectSQLite3, "migrations/sqlite",
		func() (*sqlstore.Store, error) {
			return sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: ring})
		},
		func() (*sql.DB, error) { return sql.Open("sqlite", path) })
}

// TestPostgresShipmentsMigration is TestShipmentsMigration on PostgreSQL.
func TestPostgresShipmentsMigration(t *testing.T) {
	dsn := postgresServer(t).emptyDatabase(t)
	ring := testKeyring(t)
	testShipmentsMigration(t, goose.DialectPostgres, "migrations/postgres",
		func() (*sqlstore.Store, error) {
			return sqlstore.OpenPostgres(t.Context(), dsn, sqlstore.Options{Keyring: ring})
		},
		func() (*sql.DB, error) { return sql.Open("pgx", dsn) })
}

func testShipmentsMigration(t *testing.T, dialect goose.Dialect, dir string, openStore func() (*sqlstore.Store, error), openDB func() (*sql.DB, error)) {
	ctx := t.Context()
	var err error
	open := func() *sqlstore.Store {
		t.Helper()
		s, err := openStore()
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}
	s := open()
	clinic := &novamed.Clinic{ID: uuid.NewString(), Name: "A", CreatedAt: time.Now()}
	if err := s.CreateClinic(ctx, clinic); err != nil {
		t.Fatal(err)
	}
	pr := &novamed.Practitioner{ID: uuid.NewString(), ClinicID: clinic.ID, Status: "active", FirstName: "Pat", LastName: "Doc",
		Email: "p@example.test", NPI: "1234567893", CreatedAt: time.Now()}
	pa := &novamed.Patient{ID: uuid.NewString(), ClinicID: clinic.ID, Status: "active", FirstName: "Ann", LastName: "Lee",
		DateOfBirth: "1980-01-01", Species: "human", CreatedAt: time.Now()}
	if err := s.CreatePractitioner(ctx, pr, novamed.Effects{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePatient(ctx, pa, novamed.Effects{}); err != nil {
		t.Fatal(err)
	}
	order := func() string {
		id := uuid.Must(uuid.NewV7()).String()
		item := uuid.Must(uuid.NewV7()).String()
		o := &novamed.MedicationOrder{ID: id, ClinicID: clinic.ID, PatientID: pa.ID, PractitionerID: pr.ID, Status: novamed.OrderCreated,
			CarrierID: "se-3818360", ServiceID: "fedex_2day", CreatedAt: time.Now(), UpdatedAt: time.Now(),
			Items: []*novamed.MedicationRequest{{ID: item, RootID: item, Medication: "Semaglutide", Dose: "0.25 mg", Quantity: "4", Direction: "weekly"}}}
		if err := s.CreateMedicationOrder(ctx, o, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	shipped, created := order(), order()
	for _, to := range []string{"verified", "submitted", "acknowledged", "filled", "shipped", "delivered"} {
		var sh *novamed.Shipment
		if to == "shipped" {
			sh = &novamed.Shipment{ID: "shp_migrated", TrackingNumber: "794612345678", LabelURL: "https://labels.example/1.pdf", EstimatedDelivery: "2026-01-17"}
		}
		if _, _, err := s.TransitionOrder(ctx, shipped, to, sh); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]*novamed.MedicationOrder{}
	for _, id := range []string{shipped, created} {
		if before[id], err = s.GetMedicationOrder(ctx, id, []string{clinic.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if len(before[shipped].Shipments) != 1 || before[shipped].Shipment == nil || before[shipped].Shipment.DeliveredAt == nil {
		t.Fatalf("the delivered order before the migration: %+v", before[shipped])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Down to the schema before 00008: the shipment is back in its column.
	db, err := openDB()
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, db, os.DirFS(dir), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 7); err != nil {
		t.Fatalf("down to 7: %v", err)
	}
	column := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT id, shipment FROM medication_orders`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, sh string
		if err := rows.Scan(&id, &sh); err != nil {
			t.Fatal(err)
		}
		column[id] = sh
	}
	rows.Close()
	var old novamed.Shipment
	if err := json.Unmarshal([]byte(column[shipped]), &old); err != nil || old.ID != "shp_migrated" || old.TrackingNumber != "794612345678" ||
		!old.ShippedAt.Equal(before[shipped].Shipment.ShippedAt) || old.DeliveredAt == nil {
		t.Errorf("medication_orders.shipment after the down migration: %s (%v)", column[shipped], err)
	}
	if column[created] != "null" {
		t.Errorf("an unshipped order's shipment column: %q, want null", column[created])
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Up again (as a server start does): the orders read as before.
	s = open()
	defer s.Close()
	for id, want := range before {
		got, err := s.GetMedicationOrder(ctx, id, []string{clinic.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("order %s after the migration:\n got %+v\nwant %+v", id, got, want)
		}
	}
}
