package scheduler

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// Keys of the scheduler's state.
const (
	listKey     = "schedules/list"
	firePrefix  = "schedules/fire/"
	sealVersion = 1
	listAAD     = "restic-manager-agent/schedules/v1"
	keyLen      = chacha20poly1305.KeySize
)

// ErrSealed means the stored schedule list does not open with the key
// given: the agent was enrolled again (a new credential), or the state is
// damaged. The agent starts with no schedules until the server sends them.
var ErrSealed = errors.New("the stored schedule list does not open with this agent's key")

// State is the durable key/value store the scheduler keeps its list and
// fire times in: agent/spool's state area, in the agent's state dir.
type State interface {
	PutState(key string, value []byte) error
	GetState(key string) ([]byte, error)
	DeleteState(key string) error
	StateKeys(prefix string) ([]string, error)
}

// storedList is the schedule list as sealed in State.
type storedList struct {
	Revision  int64             `json:"revision"`
	Schedules []json.RawMessage `json:"schedules"`
}

// FireState is what the scheduler remembers of one schedule across
// restarts: when it is next due, when it fires (with jitter), and its last
// run.
type FireState struct {
	// Spec identifies the timing the times were planned with (cron or
	// interval, zone, jitter); a change plans anew.
	Spec string `json:"spec"`
	// Due is when the schedule is next due by its cron expression or
	// interval; Next is Due plus the jitter drawn for it: when it fires.
	Due  time.Time `json:"due"`
	Next time.Time `json:"next"`
	// LastFire is when it last fired, LastJobID the job that run got and
	// LastStatus how it went (running, succeeded, failed, cancelled,
	// skipped).
	LastFire   time.Time `json:"last_fire,omitzero"`
	LastJobID  string    `json:"last_job_id,omitempty"`
	LastStatus string    `json:"last_status,omitempty"`
}

// seal encrypts the list (which holds repository credentials) with key.
func seal(key []byte, rev int64, list []wire.Schedule) ([]byte, error) {
	items := make([]json.RawMessage, 0, len(list))
	for _, s := range list {
		b, err := s.MarshalWire()
		if err != nil {
			return nil, err
		}
		items = append(items, b)
	}
	plain, err := json.Marshal(storedList{Revision: rev, Schedules: items})
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(nonce)+len(plain)+aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, nonce[:]...)
	out = aead.Seal(out, nonce[:], plain, []byte(listAAD))
	clear(plain)
	return out, nil
}

// open decrypts a sealed list.
func open(key, sealed []byte) (int64, []wire.Schedule, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return 0, nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != sealVersion {
		return 0, nil, ErrSealed
	}
	plain, err := aead.Open(nil, sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():], []byte(listAAD))
	if err != nil {
		return 0, nil, ErrSealed
	}
	defer clear(plain)
	var sl storedList
	if err := json.Unmarshal(plain, &sl); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrSealed, err)
	}
	raw, err := json.Marshal(sl.Schedules)
	if err != nil {
		return 0, nil, err
	}
	list, err := wire.SchedulesSync{Revision: sl.Revision, Schedules: raw}.List()
	return sl.Revision, list, err
}

// FireTimes reads every schedule's FireState from a State, by schedule id.
// The agent's state is locked while it runs; tools and tests read it when
// the agent is stopped.
func FireTimes(st State) (map[string]FireState, error) {
	keys, err := st.StateKeys(firePrefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]FireState, len(keys))
	for _, k := range keys {
		b, err := st.GetState(k)
		if err != nil {
			return nil, err
		}
		var fs FireState
		if err := json.Unmarshal(b, &fs); err != nil {
			return nil, fmt.Errorf("fire state %s: %w", k, err)
		}
		out[strings.TrimPrefix(k, firePrefix)] = fs
	}
	return out, nil
}

func putFire(st State, id string, fs FireState) error {
	b, err := json.Marshal(fs)
	if err != nil {
		return err
	}
	return st.PutState(firePrefix+id, b)
}

// specKey identifies a schedule's timing: a change of any of these plans
// its next run anew.
func specKey(s wire.Schedule) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%q|%d|%q|%d", s.Cron, s.EverySeconds, s.Timezone, s.JitterSeconds))
	return hex.EncodeToString(h[:8])
}

// newID returns a random (version 4) UUID, the form job ids take.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err)) // it does not, on any supported system
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
