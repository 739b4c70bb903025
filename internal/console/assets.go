package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded file with its content hash.
type asset struct {
	body    []byte
	version string
	ctype   string
}

// assetSet holds the console's static files, each served under a URL that
// names its content hash, so it can be cached forever and a new build
// never meets a stale copy.
type assetSet struct{ byName map[string]*asset }

// contentTypes are fixed here rather than taken from the system's MIME
// table, which differs between machines.
var contentTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml", ".png": "image/png",
}

func loadAssets() (*assetSet, error) {
	set := &assetSet{byName: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		if ext != ".js" && ext != ".css" && ext != ".svg" && ext != ".png" {
			return nil
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		set.byName[path.Base(p)] = &asset{body: b, version: hex.EncodeToString(sum[:])[:12], ctype: contentTypes[ext]}
		return nil
	})
	return set, err
}

// url is the versioned URL of a named asset.
func (a *assetSet) url(name string) string {
	if x, ok := a.byName[name]; ok {
		return Prefix + "/assets/" + x.version + "/" + name
	}
	panic("console: unknown asset " + name)
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	x, ok := c.assets.byName[r.PathValue("name")]
	if !ok || x.version != r.PathValue("version") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", x.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(x.body) //nolint:errcheck // the client went away
}
