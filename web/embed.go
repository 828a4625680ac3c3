// Package web holds the UI's templates and static assets, embedded into the
// server binary so the UI works without Node and on an offline network.
// The built files in static/ are committed; `make web` rebuilds them from
// src/ and package.json's pinned versions.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Templates holds the html/template files, at the root.
func Templates() fs.FS { return sub(templates, "templates") }

// Static holds the files served under /static/, at the root.
func Static() fs.FS { return sub(static, "static") }

func sub(fsys fs.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is embedded above and a valid path; cannot happen
	}
	return s
}
