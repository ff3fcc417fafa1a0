// Package migrations embeds the application's schema migrations, one
// directory per SQL dialect, so the binary carries its own schema.
package migrations

import (
	"embed"
	"io/fs"

	"github.com/rightsize/rightsize/internal/platform/database"
)

//go:embed sqlite postgres
var files embed.FS

// For returns the migrations written for dialect d.
func For(d database.Dialect) fs.FS {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		panic(err) // only for a dialect with no directory: a programming error
	}
	return sub
}
