// Package sdk is the restic-manager plugin SDK: everything a plugin author
// imports, and the plugin half of what the server and the agent use to run
// plugins. Notification channels, login providers and backup backends are
// separate processes speaking gRPC through hashicorp/go-plugin, so a plugin
// can be written, built and released apart from restic-manager.
//
//   - sdk/plugin: the handshake and protocol version, the Base interface every
//     plugin implements (Info, ConfigSchema, Configure), config schemas and
//     their HCL decoding, the errors that cross the process boundary, Serve
//     and the plugin logger, and the host's client configuration.
//   - sdk/notify, sdk/auth, sdk/backend: one package per plugin kind, each
//     with its interface, go-plugin glue, gRPC adapters, API version, a mock
//     and its .proto file.
//   - sdk/sdktest: the conformance suite a plugin runs in its own tests.
//   - sdk/examples/notify-log: a complete third-party notifier.
//
// docs/plugins.md walks through writing, building, pinning and configuring
// a plugin. The generated protobuf code is committed; `make proto`
// (scripts/gen-proto.sh) regenerates it and TestGeneratedCodeUpToDate checks
// it is current.
package sdk
