package wire

import (
	"slices"
)

// Type names a message in the catalogue.
type Type string

// The catalogue of protocol version 1. docs/protocol.md describes each one.
const (
	TypeHello          Type = "hello"            // agent → server, request
	TypeHelloOK        Type = "hello_ok"         // server → agent, reply to hello
	TypeHeartbeat      Type = "heartbeat"        // agent → server, request
	TypeHeartbeatAck   Type = "heartbeat_ack"    // server → agent, reply to heartbeat
	TypeJobDispatch    Type = "job_dispatch"     // server → agent, request
	TypeJobAccept      Type = "job_accept"       // agent → server, reply to job_dispatch
	TypeJobReject      Type = "job_reject"       // agent → server, reply to job_dispatch
	TypeJobCancel      Type = "job_cancel"       // server → agent, request
	TypeJobEvent       Type = "job_event"        // agent → server, notification
	TypeJobEventAck    Type = "job_event_ack"    // server → agent, notification
	TypeJobFinished    Type = "job_finished"     // agent → server, notification
	TypeSchedulesSync  Type = "schedules_sync"   // server → agent, request
	TypeAck            Type = "ack"              // either way, reply to job_cancel and schedules_sync
	TypeError          Type = "error"            // either way, reply to any request, or a notification
	TypeJobData        Type = "job_data"         // agent → server, notification (data.go)
	TypeJobDataAck     Type = "job_data_ack"     // server → agent, notification (data.go)
	TypeAdminKey       Type = "admin_key"        // agent → server, request (adminkey.go)
	TypeAdminKeyResult Type = "admin_key_result" // server → agent, reply to admin_key

	TypePathCheck       Type = "path_check"        // server → agent, request (pathcheck.go)
	TypePathCheckResult Type = "path_check_result" // agent → server, reply to path_check
)

// Role is the end of a connection: the agent dials, the server accepts.
type Role int

// The two roles.
const (
	RoleAgent Role = iota + 1
	RoleServer
)

// String returns "agent" or "server".
func (r Role) String() string {
	switch r {
	case RoleAgent:
		return "agent"
	case RoleServer:
		return "server"
	default:
		return "unknown"
	}
}

// peer is the other end.
func (r Role) peer() Role {
	if r == RoleAgent {
		return RoleServer
	}
	return RoleAgent
}

// Kind says how a message is correlated.
type Kind int

// Message kinds. A request gets exactly one reply (one of its reply types, or
// error); a notification gets none. error is a reply when it has reply_to and
// a notification when it has not.
const (
	KindRequest Kind = iota + 1
	KindReply
	KindNotification
)

// spec is one catalogue entry.
type spec struct {
	from    Role // 0: either side
	kind    Kind
	replies []Type // for requests; error is always allowed as well
	payload func() any
}

var catalogue = map[Type]spec{
	TypeHello:          {RoleAgent, KindRequest, []Type{TypeHelloOK}, func() any { return new(Hello) }},
	TypeHelloOK:        {RoleServer, KindReply, nil, func() any { return new(HelloOK) }},
	TypeHeartbeat:      {RoleAgent, KindRequest, []Type{TypeHeartbeatAck}, func() any { return new(Heartbeat) }},
	TypeHeartbeatAck:   {RoleServer, KindReply, nil, func() any { return new(HeartbeatAck) }},
	TypeJobDispatch:    {RoleServer, KindRequest, []Type{TypeJobAccept, TypeJobReject}, func() any { return new(JobDispatch) }},
	TypeJobAccept:      {RoleAgent, KindReply, nil, func() any { return new(JobAccept) }},
	TypeJobReject:      {RoleAgent, KindReply, nil, func() any { return new(JobReject) }},
	TypeJobCancel:      {RoleServer, KindRequest, []Type{TypeAck}, func() any { return new(JobCancel) }},
	TypeJobEvent:       {RoleAgent, KindNotification, nil, func() any { return new(JobEvent) }},
	TypeJobEventAck:    {RoleServer, KindNotification, nil, func() any { return new(JobEventAck) }},
	TypeJobFinished:    {RoleAgent, KindNotification, nil, func() any { return new(JobFinished) }},
	TypeSchedulesSync:  {RoleServer, KindRequest, []Type{TypeAck}, func() any { return new(SchedulesSync) }},
	TypeAck:            {0, KindReply, nil, func() any { return new(Ack) }},
	TypeError:          {0, KindReply, nil, func() any { return new(Error) }},
	TypeJobData:        {RoleAgent, KindNotification, nil, func() any { return new(JobData) }},
	TypeJobDataAck:     {RoleServer, KindNotification, nil, func() any { return new(JobDataAck) }},
	TypeAdminKey:       {RoleAgent, KindRequest, []Type{TypeAdminKeyResult}, func() any { return new(AdminKey) }},
	TypeAdminKeyResult: {RoleServer, KindReply, nil, func() any { return new(AdminKeyResult) }},

	TypePathCheck:       {RoleServer, KindRequest, []Type{TypePathCheckResult}, func() any { return new(PathCheck) }},
	TypePathCheckResult: {RoleAgent, KindReply, nil, func() any { return new(PathCheckResult) }},
}

// Known reports whether t is in the catalogue.
func (t Type) Known() bool {
	_, ok := catalogue[t]
	return ok
}

// Kind returns how t is correlated (KindReply for error; see Kind).
func (t Type) Kind() Kind { return catalogue[t].kind }

// SentBy reports whether role may send t.
func (t Type) SentBy(r Role) bool {
	s, ok := catalogue[t]
	return ok && (s.from == 0 || s.from == r)
}

// Replies lists the reply types a request accepts besides error.
func (t Type) Replies() []Type { return slices.Clone(catalogue[t].replies) }

// acceptsReply reports whether reply may answer a request of type t.
func (t Type) acceptsReply(reply Type) bool {
	return reply == TypeError || slices.Contains(catalogue[t].replies, reply)
}

// Types lists the catalogue, sorted.
func Types() []Type {
	ts := make([]Type, 0, len(catalogue))
	for t := range catalogue {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// NewPayload returns a pointer to a zero payload struct for t, ready for
// Envelope.DecodePayload, or nil if t is unknown.
func NewPayload(t Type) any {
	s, ok := catalogue[t]
	if !ok {
		return nil
	}
	return s.payload()
}
