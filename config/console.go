package config

import (
	"net/url"
	"strings"
)

// TileHost returns the scheme and host of a tile URL template as a
// Content-Security-Policy source, with a {s} subdomain label replaced by
// the wildcard "*", or "" when tileURL is empty or unparsable.
func TileHost(tileURL string) string {
	if tileURL == "" {
		return ""
	}
	u, err := parseTileURL(tileURL)
	if err != nil || u.Host == "" {
		return ""
	}
	host := u.Host
	if first, rest, ok := strings.Cut(host, "."); ok && strings.Contains(first, subdomainMark) {
		host = "*." + rest
	}
	return u.Scheme + "://" + host
}

// subdomainMark replaces {s} while a tile URL is parsed, because
// net/url rejects braces in a host name.
const subdomainMark = "subdomain-placeholder"

// parseTileURL parses a tile URL template with {s} replaced by
// subdomainMark and the other placeholders left in the path.
func parseTileURL(tileURL string) (*url.URL, error) {
	return url.Parse(strings.ReplaceAll(tileURL, "{s}", subdomainMark))
}

func checkConsole(c Console, problems *Error) {
	if c.TileURL != "" {
		u, err := parseTileURL(c.TileURL)
		switch {
		case err != nil:
			problems.add("console.tile_url: %v", err)
		case u.Scheme != "https" && u.Scheme != "http":
			problems.add("console.tile_url: scheme %q is not http or https", u.Scheme)
		case u.Host == "":
			problems.add("console.tile_url: missing host, e.g. https://tiles.example/{z}/{x}/{y}.png")
		case !strings.Contains(c.TileURL, "{z}") || !strings.Contains(c.TileURL, "{x}") || !strings.Contains(c.TileURL, "{y}"):
			problems.add("console.tile_url: must contain {z}, {x} and {y}, e.g. https://tiles.example/{z}/{x}/{y}.png")
		}
	}
	switch c.TileCRS {
	case "wgs84", "gcj02":
	default:
		problems.add("console.tile_crs: %q is not wgs84 or gcj02", c.TileCRS)
	}
	switch c.DefaultLanguage {
	case "zh-CN", "en":
	default:
		problems.add("console.default_language: %q is not zh-CN or en", c.DefaultLanguage)
	}
	if len(c.Center) != 2 {
		problems.add("console.center: must be [lat, lon], got %d numbers", len(c.Center))
	} else if c.Center[0] < -90 || c.Center[0] > 90 || c.Center[1] < -180 || c.Center[1] > 180 {
		problems.add("console.center: [%g, %g] is not a valid [lat, lon]", c.Center[0], c.Center[1])
	}
	checkRange("console.zoom", c.Zoom, 1, 20, problems)
	if strings.ContainsAny(c.TileAttribution, "<>") {
		problems.add("console.tile_attribution: must be plain text without < or >")
	}
}
