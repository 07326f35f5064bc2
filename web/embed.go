// Package web embeds the regulator console, a single-page app built from
// web/src by Vite into web/dist. The built files are committed, so the
// server binary carries the console without npm at build time. Rebuild
// with `cd web && npm ci && npm run build` after changing web/src.
package web

import "embed"

// Dist holds the built console: dist/index.html and dist/assets/.
//
//go:embed all:dist
var Dist embed.FS
