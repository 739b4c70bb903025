// Package novamed is the domain of the NovaMed Partner API: the types partners
// and operators work with (clinics, API keys, practitioners, patients, audit
// records), the store interfaces that persistence packages implement, the one
// error type every layer speaks, and the validation rules of the contract.
//
// It imports nothing of this module, so every other package can depend on it.
package novamed
