package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/caching"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// CacheAdmin is the response cache's administration: purge and sizes.
type CacheAdmin interface {
	Purge(ctx context.Context, r caching.PurgeRequest) (int, error)
	TierStats(ctx context.Context) ([]caching.TierStat, error)
}

// Usage aggregates inference records (the store).
type Usage interface {
	SumInferences(ctx context.Context, f switchboard.InferenceFilter, groupBy []string) ([]switchboard.InferenceSum, error)
}

// ParseSince reads ?since= as a duration ("24h", "7d") or an RFC 3339 time.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return now.Add(-24 * time.Hour), nil
	}
	if d, err := tenancy.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, switchboard.InvalidParam("since", "'since' must be a duration such as 24h or 7d, or an RFC 3339 time, got %q", v)
	}
	return t, nil
}

var cacheGroups = []string{switchboard.GroupTenant, switchboard.GroupModel, switchboard.GroupCache}

// cacheStats answers GET /admin/v1/cache/stats: each tier's size and, from
// the inference records since ?since= (default 24h), requests, tokens and
// dollars by tenant, model and cache result.
func (s *Server) cacheStats(w http.ResponseWriter, r *http.Request) error {
	since, err := ParseSince(r.URL.Query().Get("since"), time.Now())
	if err != nil {
		return err
	}
	out := map[string]any{"since": since.UTC().Format(time.RFC3339)}
	if s.cache != nil {
		tiers, err := s.cache.TierStats(r.Context())
		if err != nil {
			return err
		}
		out["tiers"] = tiers
	}
	if s.usage != nil {
		rows, err := s.usage.SumInferences(r.Context(), switchboard.InferenceFilter{Since: since}, cacheGroups)
		if err != nil {
			return err
		}
		if rows == nil {
			rows = []switchboard.InferenceSum{}
		}
		out["usage"] = rows
	}
	return writeJSON(w, out)
}

// cachePurge answers POST /admin/v1/cache/purge with a caching.PurgeRequest.
func (s *Server) cachePurge(w http.ResponseWriter, r *http.Request) error {
	if s.cache == nil {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: "the response cache is not enabled (cache.enabled)"}
	}
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	var req caching.PurgeRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return switchboard.Errorf(switchboard.CodeInvalidRequest, "body must be {\"tenants\": [...], \"model\": \"…\", \"key\": \"…\", \"all\": true}: %v", err)
	}
	if !req.All && req.Key == "" && req.Model == "" && len(req.Tenants) == 0 {
		return switchboard.Errorf(switchboard.CodeInvalidRequest, "say what to purge: \"all\": true, a \"key\", a \"model\" or \"tenants\"")
	}
	n, err := s.cache.Purge(r.Context(), req)
	if err != nil {
		return err
	}
	s.log.Info("cache purged", "deleted", n, "model", req.Model, "tenants", req.Tenants, "all", req.All)
	return writeJSON(w, map[string]any{"deleted": n})
}
