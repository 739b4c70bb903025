package main

import "github.com/novamed/partner-api/internal/server"

// The fictitious records a development server starts with (contract §8,
// "Development data"), stored by server.SeedDevelopmentData.
const (
	devPatientID      = server.DevPatientID
	devPractitionerID = server.DevPractitionerID
)
