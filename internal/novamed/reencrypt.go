package novamed

import "time"

// Re-encryption job states.
const (
	ReencryptRunning   = "running"
	ReencryptSucceeded = "succeeded"
	ReencryptFailed    = "failed"
)

// ReencryptionJob is one re-sealing of every PHI value under a master key
// version, started by an operator (console or admin API).
type ReencryptionJob struct {
	ID        string `json:"id"`
	ToVersion uint32 `json:"to_version"`
	State     string `json:"state"`
	// Changed counts the rows re-sealed so far; Remaining the PHI values
	// still under another version when last counted.
	Changed    int64      `json:"changed"`
	Remaining  int64      `json:"remaining"`
	Error      string     `json:"error,omitempty"`
	StartedBy  string     `json:"started_by"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at"`
}
