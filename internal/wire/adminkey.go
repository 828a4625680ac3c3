package wire

import (
	"encoding/json"
	"errors"
)

// AdminKey asks the server, right before a scheduled step that removes
// data (a scheduled prune, a scheduled forget with prune, the retention
// forget with prune that follows a scheduled backup), for the repository's
// admin key: the credential allowed to delete, which the agent is never
// sent with its schedules. The agent asks only when the schedule's
// repository says it has one (Repository.AdminKey). The server answers
// admin_key_result, or an error when the host does not own the schedule,
// the schedule removes no data, or the repository has no admin key.
type AdminKey struct {
	ScheduleID string `json:"schedule_id"`
	// JobID is the scheduled job the key is for: the server audits it and
	// scrubs the key from that job's events.
	JobID string `json:"job_id"`
	// Kind is the job's kind: prune, or forget.
	Kind string `json:"kind"`
}

// AdminKeyResult carries the admin key. The agent uses it for the one job
// it asked for, keeps it in memory only, and scrubs it from the job's
// output like the repository's password.
type AdminKeyResult struct {
	Password Secret `json:"password"`
}

func (AdminKey) MessageType() Type       { return TypeAdminKey }
func (AdminKeyResult) MessageType() Type { return TypeAdminKeyResult }

func (k AdminKey) Validate() error {
	return errors.Join(
		checkIdent("schedule_id", k.ScheduleID, true),
		checkIdent("job_id", k.JobID, true),
		checkText("kind", k.Kind, maxShortLen, true),
	)
}

func (r AdminKeyResult) Validate() error {
	if r.Password.IsZero() {
		return errors.New("password is empty")
	}
	return nil
}

// MarshalWire encodes the result with the key revealed, for the peer only.
func (r AdminKeyResult) MarshalWire() ([]byte, error) {
	return json.Marshal(struct { //nolint:gosec // G117: revealing the key to the peer is this method's job
		Password string `json:"password"`
	}{r.Password.Reveal()})
}
