package backend

// APIVersion is the semantic version of the backend API: this package's
// Backend, Job, Event and Result and the Backend gRPC service. A backend
// built with this SDK reports it in Info (Serve fills it in); a host accepts
// plugins whose API version has the same major version as its own
// (plugin.CheckAPIVersion).
//
// 1.0.0: Run with progress, log, summary and error events.
// 1.1.0: the copy kind, Job.ToRepository and Args.ToRepository.
// 1.2.0: the dump kind and Event.Data, raw output bytes (a dump's stdout)
// that the host passes on and never logs.
// 1.3.0: the key_add and key_remove kinds and Job.NewPassword, the secret
// password of the key a key_add creates.
const APIVersion = "1.3.0"
