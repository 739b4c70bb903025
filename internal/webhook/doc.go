// Package webhook delivers the event outbox to partners: a worker claims due
// deliveries with a lease (so replicas never send one attempt twice at once),
// signs each attempt with Standard Webhooks headers, follows the documented
// retry schedule, and records every attempt. URLPolicy keeps deliveries away
// from internal networks, checked at registration and again at every dial.
package webhook
