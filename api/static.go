package api

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/hwtrack/hwtrack/config"
)

// consoleConfigResponse is the body of GET /api/v1/console/config.
type consoleConfigResponse struct {
	TileURL         string     `json:"tile_url"`
	TileCRS         string     `json:"tile_crs"`
	TileAttribution string     `json:"tile_attribution"`
	DefaultLanguage string     `json:"default_language"`
	Center          [2]float64 `json:"center"`
	Zoom            int        `json:"zoom"`
}

func (s *server) consoleConfig(w http.ResponseWriter, r *http.Request) error {
	c := s.settings
	out := consoleConfigResponse{
		TileURL:         c.TileURL,
		TileCRS:         c.TileCRS,
		TileAttribution: c.TileAttribution,
		DefaultLanguage: c.DefaultLanguage,
		Zoom:            c.Zoom,
	}
	if len(c.Center) == 2 {
		out.Center = [2]float64{c.Center[0], c.Center[1]}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// contentSecurityPolicy builds the console's policy. Map tiles are the only
// resource loaded from elsewhere, so their host is the only extra source.
func contentSecurityPolicy(settings config.Console) string {
	img := "img-src 'self' data:"
	if host := config.TileHost(settings.TileURL); host != "" {
		img += " " + host
	}
	return "default-src 'self'; " + img + "; connect-src 'self'; style-src 'self' 'unsafe-inline'"
}

// securityHeaders sets the headers every response carries.
func (s *server) securityHeaders(next http.Handler) http.Handler {
	csp := contentSecurityPolicy(s.settings)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// serveConsole serves the embedded single-page app: a file that exists is
// served as is, and any other path gets index.html so the app's own
// router handles it.
func (s *server) serveConsole(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &apiError{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed, Message: "the console is read with GET"}
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name != "" {
		info, err := fs.Stat(s.static, name)
		if err == nil && !info.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				// Vite puts a content hash in every asset name.
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			http.ServeFileFS(w, r, s.static, name)
			return nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	index, err := fs.ReadFile(s.static, "index.html")
	if err != nil {
		return errNotFound("the console is not built into this binary (web/dist/index.html is missing)")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(index)
	}
	return nil
}
