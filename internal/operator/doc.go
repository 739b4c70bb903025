// Package operator is the identity of NovaMed's staff (issue 22): operators
// and their roles, what each role may do (Capabilities, the table the admin
// API, the staff console and the role-matrix test share), Argon2id
// passwords, TOTP second factors, operator tokens (op_…) and the sign-in
// throttle. It holds no storage: Service works on any Store (sqlstore
// implements it), and a TOTP secret reaches the store in clear only to be
// sealed there with the PHI keyring.
package operator
