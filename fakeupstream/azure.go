package fakeupstream

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Azure OpenAI: OpenAI's API at per-deployment URLs,
// /openai/deployments/{deployment}/chat/completions?api-version=… (and
// /embeddings), authenticated with an api-key header or an Entra ID bearer
// token. The fake serves them with the OpenAI handlers, acting as the model
// named by the deployment. Without api-version Azure answers 404 "Resource
// not found"; without a key (or, when the server requires one, with another
// key), 401.

var hdrAzureRegion = []string{"East US"}

// azureRoutes registers the Azure OpenAI routes on mux.
func (s *Server) azureRoutes(mux *http.ServeMux) {
	mux.Handle("POST /openai/deployments/{deployment}/chat/completions", s.route(s.azure(s.chat)))
	mux.Handle("POST /openai/deployments/{deployment}/embeddings", s.route(s.azure(s.embeddings)))
	mux.Handle("GET /openai/models", s.route(s.azure(s.models)))
}

// azure wraps an OpenAI handler with Azure's checks, and sets the body's
// model to the deployment of the URL (Azure ignores the body's model).
func (s *Server) azure(next handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		h := w.Header()
		h["Apim-Request-Id"] = []string{requestID()}
		h["X-Ms-Region"] = hdrAzureRegion
		if r.URL.Query().Get("api-version") == "" {
			writeAzureError(w, http.StatusNotFound, "Resource not found")
			return nil
		}
		if !s.azureAuthorized(r) {
			writeAzureError(w, http.StatusUnauthorized, "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
			return nil
		}
		if d := r.PathValue("deployment"); d != "" {
			var fields map[string]json.RawMessage
			if json.Unmarshal(c.body, &fields) == nil && fields != nil {
				fields["model"] = marshal(d)
				c.body = marshal(fields)
			}
		}
		return next(w, r, c)
	}
}

// azureAuthorized reports whether the request carries a key (the required
// one, when the server has one) as api-key or a bearer token.
func (s *Server) azureAuthorized(r *http.Request) bool {
	keys := []string{r.Header.Get("Api-Key")}
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		keys = append(keys, strings.TrimSpace(auth))
	}
	for _, k := range keys {
		if k != "" && (s.opts.RequireKey == "" || subtle.ConstantTimeCompare([]byte(k), []byte(s.opts.RequireKey)) == 1) {
			return true
		}
	}
	return false
}

// writeAzureError answers with Azure's own error envelope, whose code is the
// status as a string.
func writeAzureError(w http.ResponseWriter, status int, msg string) {
	body := marshal(map[string]map[string]string{"error": {"code": strconv.Itoa(status), "message": msg}})
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
