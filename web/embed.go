// Package web holds the UI's templates and static assets, embedded into the
// server binary. The UI itself lands with its own issue; until then the
// folder holds only this package.
package web
