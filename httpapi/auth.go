package httpapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// Authenticator tells who a request's API key stands for.
type Authenticator interface {
	// AuthRequired reports whether requests must carry a key.
	AuthRequired() bool
	// Authenticate returns the caller of key, or a 401 *switchboard.Error.
	Authenticate(key string) (*tenancy.Caller, error)
}

// apiKey returns the key a request carries: OpenAI's Authorization: Bearer,
// Anthropic's x-api-key, or Azure's api-key.
func apiKey(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if k, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(h, "bearer "); ok {
			return strings.TrimSpace(k)
		}
		return strings.TrimSpace(h)
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(r.Header.Get("Api-Key"))
}

// authenticate checks the request's key for scope and puts the caller in
// the request's entry and context. With no key configured anywhere, API
// requests are served anonymously and the admin API answers loopback
// clients only.
func (s *Server) authenticate(r *http.Request, scope string) (*http.Request, error) {
	e := entryFrom(r.Context())
	if s.auth == nil || !s.auth.AuthRequired() {
		if scope == switchboard.ScopeAdmin || scope == switchboard.ScopeReadOnly {
			if !loopbackClient(r) {
				return r, &switchboard.Error{Code: switchboard.CodeForbidden,
					Message: "the admin API answers loopback clients only until an API key with the admin scope exists"}
			}
		}
		return r, nil
	}
	c, err := s.auth.Authenticate(apiKey(r))
	if err != nil {
		return r, err
	}
	if !c.Can(scope) {
		need := scope
		if scope == switchboard.ScopeReadOnly {
			need = "read-only or admin"
		}
		return r, &switchboard.Error{Code: switchboard.CodeForbidden, VendorCode: "insufficient_permissions",
			Message: "the API key " + c.Key.Prefix + " lacks the " + need + " scope this route needs (it has: " + strings.Join(c.Key.Scopes, ", ") + ")"}
	}
	e.caller = c
	return r.WithContext(switchboard.NewContextWithPrincipal(r.Context(), c.Principal())), nil
}

// checkModel refuses a model the caller's key may not use.
func checkModel(e *entry, model string) error {
	if e.caller == nil || model == "" || e.caller.MayUse(model) {
		return nil
	}
	return &switchboard.Error{Code: switchboard.CodeForbidden, Param: "model", VendorCode: "model_not_allowed",
		Message: "the API key " + e.caller.Key.Prefix + " may not use model " + quote(model) + " (allowed: " + strings.Join(e.caller.Key.Models, ", ") + ")"}
}

func loopbackClient(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}
