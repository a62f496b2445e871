// Package webui holds the browser code the management plane's pages share
// (the dashboard and the studio): one copy, embedded in the binary, served
// by each page under its own prefix. It is a leaf: it imports nothing of
// moat's.
package webui

import (
	"embed"
	"net/http"
)

//go:embed chart.js
var shared embed.FS

// Handle registers the shared files on mux under prefix (for example
// "/dashboard" serves /dashboard/chart.js).
func Handle(mux *http.ServeMux, prefix string) {
	files := http.FileServerFS(shared)
	mux.Handle("GET "+prefix+"/chart.js", http.StripPrefix(prefix, files))
}
