package operator

import (
	"fmt"
	"slices"
)

// Role is an operator's one role.
type Role string

// The roles, least to most privileged in the order Roles lists them.
const (
	Viewer   Role = "viewer"
	Support  Role = "support"
	Pharmacy Role = "pharmacy"
	Security Role = "security"
	Admin    Role = "admin"
)

// Roles lists every role, in the order of the table.
var Roles = []Role{Viewer, Support, Pharmacy, Security, Admin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("role must be one of viewer, support, pharmacy, security, admin, not %q", s)
	}
	return r, nil
}

// Capability is one row of the role table: a group of operations a role
// may or may not perform.
type Capability string

// The capabilities of issue 22's table, one per row.
const (
	// Read: partners, clinics, keys (never secrets), usage, deliveries.
	Read Capability = "read"
	// Change: partners, BAAs, clinics, formulary, carriers; issue, roll and
	// update keys; retry deliveries.
	Change Capability = "change"
	// Revoke: revoke keys; suspend and reinstate partners.
	Revoke Capability = "revoke"
	// ReadPHI: patients, practitioners, orders.
	ReadPHI Capability = "read_phi"
	// Orders: order lifecycle (advance, cancel, cancel shipment) and
	// practitioner activation.
	Orders Capability = "orders"
	// Audit: audit search, export, verify and checkpoint; security events;
	// crypto.
	Audit Capability = "audit"
	// Operators: operators and partner users.
	Operators Capability = "operators"
)

// Capabilities is the role table of issue 22, as data: for each
// capability, the roles that have it. The admin API's route table, the
// staff console and the role-matrix test all read it; change it here only.
var Capabilities = map[Capability][]Role{
	Read:      {Viewer, Support, Pharmacy, Security, Admin},
	Change:    {Support, Admin},
	Revoke:    {Support, Security, Admin},
	ReadPHI:   {Pharmacy, Security, Admin},
	Orders:    {Pharmacy, Admin},
	Audit:     {Security, Admin},
	Operators: {Admin},
}

// CapabilityOrder lists the capabilities in the order of the table.
var CapabilityOrder = []Capability{Read, Change, Revoke, ReadPHI, Orders, Audit, Operators}

// Can reports whether role r has capability c.
func (r Role) Can(c Capability) bool { return slices.Contains(Capabilities[c], r) }
