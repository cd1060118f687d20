package httpapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// parseCacheControl reads the HTTP Cache-Control request directives the
// cache honours: no-cache (refresh), no-store (bypass) and max-age=N (accept
// only entries younger than N seconds). Unknown directives are ignored, as
// HTTP requires.
func parseCacheControl(h string) switchboard.CacheControl {
	var cc switchboard.CacheControl
	for _, d := range strings.Split(h, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-cache":
			cc.NoCache = true
		case "no-store":
			cc.NoStore = true
		case "max-age", "s-maxage":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				d := time.Duration(n) * time.Second
				cc.MaxAge = &d
			}
		}
	}
	return cc
}
