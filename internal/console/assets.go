package console

import (
	"embed"
	"io/fs"

	"github.com/novamed/partner-api/internal/websession"
)

//go:embed static
var staticFS embed.FS

// loadAssets reads the console's static files (internal/websession serves
// them under content-hashed URLs).
func loadAssets() (*websession.Assets, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return websession.LoadAssets(sub, Prefix)
}

// StaticFS is the console's stylesheet, script and vendored htmx, which
// the partner portal serves too (same look, same behaviour, one copy).
func StaticFS() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // embedded at build time
	}
	return sub
}
