package auth

// APIVersion is the semantic version of the auth API: this package's
// Authenticator and its types and the Authenticator gRPC service. An
// authenticator built with this SDK reports it in Info (Serve fills it in);
// a host accepts plugins whose API version has the same major version as
// its own (plugin.CheckAPIVersion).
//
// 1.0.0: BeginLogin and CompleteLogin.
const APIVersion = "1.0.0"
