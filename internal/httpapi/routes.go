package httpapi

import "github.com/novamed/partner-api/internal/novamed"

// routes is the whole API on one screen. Partner routes run the partner
// stack (negotiation, auth, rate limit, idempotency, audit) and say what
// their audit record names on success (auditNames); probes run none.
func (s *Server) routes() *routeTable {
	mux := newRouteTable()

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /openapi.json", s.openapiJSON)
	mux.HandleFunc("GET /openapi.yaml", s.openapiYAML)
	mux.HandleFunc("GET /docs", s.docsPage)
	mux.HandleFunc("GET /docs/{$}", s.docsPage)
	mux.HandleFunc("GET /docs/{asset}", s.docsAsset)
	mux.HandleFunc("GET /docs/assets/{version}/{asset}", s.docsVersionedAsset)

	mux.Handle("GET /api/external/me", s.partner("key.read", "api_key", namesKey, s.getMe))
	mux.Handle("GET /api/external/me/usage", s.partner("key.usage", "api_key", namesKey, s.getMyUsage))

	mux.Handle("POST /api/external/practitioner", s.partner("practitioner.create", "practitioner", namesResource, s.createPractitioner))
	mux.Handle("GET /api/external/practitioner", s.partner("practitioner.list", "practitioner", namesListed, s.listPractitioners))
	mux.Handle("GET /api/external/practitioner/{id}", s.partner("practitioner.read", "practitioner", namesResource, s.getPractitioner))
	mux.Handle("PATCH /api/external/practitioner/{id}", s.partner("practitioner.update", "practitioner", namesResource, s.updatePractitioner))

	mux.Handle("POST /api/external/patient", s.partner("patient.create", "patient", namesResource, s.createPatient).writesKeyFirst())
	mux.Handle("GET /api/external/patient", s.partner("patient.list", "patient", namesListed, s.listPatients))
	mux.Handle("GET /api/external/patient/{id}", s.partner("patient.read", "patient", namesResource, s.getPatient))
	mux.Handle("PATCH /api/external/patient/{id}", s.partner("patient.update", "patient", namesResource, s.updatePatient))

	mux.Handle("POST /api/external/medication-order", s.partner("medication_order.create", "medication_order", namesResource, s.createOrder).writesKeyFirst())
	mux.Handle("GET /api/external/medication-order", s.partner("medication_order.list", "medication_order", namesListed, s.listOrders))
	mux.Handle("GET /api/external/medication-order/{id}", s.partner("medication_order.read", "medication_order", namesResource, s.getOrder))
	mux.Handle("POST /api/external/medication-order/{id}/cancel", s.partner("medication_order.cancel", "medication_order", namesResource, s.cancelOrder))
	if s.env == novamed.Development { // the sandbox's pharmacy actions; production answers 404 as for any unknown route
		mux.Handle("POST /api/external/medication-order/{id}/sandbox/cancel-shipment",
			s.partner("medication_order.cancel_shipment", "medication_order", namesResource, s.cancelShipment))
	}

	mux.Handle("POST /api/external/refill-request", s.partner("refill_request.create", "refill_request", namesResource, s.createRefill))
	mux.Handle("GET /api/external/refill-request", s.partner("refill_request.list", "refill_request", namesListed, s.listRefills))
	mux.Handle("GET /api/external/refill-request/{id}", s.partner("refill_request.read", "refill_request", namesResource, s.getRefill))

	mux.Handle("GET /api/external/medications", s.partner("medication.list", "medication", namesClinic, s.listMedications))

	mux.Handle("GET /api/external/carriers", s.partner("carrier.list", "carrier", namesKey, s.listCarriers))
	mux.Handle("GET /api/external/carriers/{carrierId}/services", s.partner("carrier.quote", "patient", namesResource, s.carrierServices))

	mux.Handle("POST /api/external/webhook", s.partner("webhook.create", "webhook", namesResource, s.createWebhook))
	mux.Handle("GET /api/external/webhook", s.partner("webhook.list", "webhook", namesListed, s.listWebhooks))
	mux.Handle("DELETE /api/external/webhook", s.partner("webhook.delete", "webhook", namesResource, s.deleteWebhook))
	mux.Handle("GET /api/external/webhook/{id}", s.partner("webhook.read", "webhook", namesResource, s.getWebhook))
	mux.Handle("DELETE /api/external/webhook/{id}", s.partner("webhook.delete", "webhook", namesResource, s.deleteWebhook))
	mux.Handle("GET /api/external/webhook/{id}/deliveries", s.partner("webhook.deliveries", "webhook", namesResource, s.listDeliveries))
	mux.Handle("POST /api/external/webhook/{id}/deliveries/{delivery_id}/retry", s.partner("webhook.retry", "webhook", namesResource, s.retryDelivery))
	mux.Handle("POST /api/external/webhook/{id}/test", s.partner("webhook.test", "webhook", namesResource, s.testWebhook))
	mux.Handle("POST /api/external/webhook/{id}/rotate", s.partner("webhook.rotate", "webhook", namesResource, s.rotateWebhook))
	s.registerAdmin(mux)
	return mux
}
