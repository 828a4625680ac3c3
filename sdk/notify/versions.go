package notify

// APIVersion is the semantic version of the notify API: this package's
// Notifier and Notification and the Notifier gRPC service. A notifier built
// with this SDK reports it in Info (Serve fills it in); a host accepts
// plugins whose API version has the same major version as its own
// (plugin.CheckAPIVersion).
//
// 1.0.0: Notify with Notification{Event, Severity, Title, Body, Host, Job,
// Links, Time}.
const APIVersion = "1.0.0"
