package httpapi

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/anthropic"
)

// byDialect serves a request carrying anthropic-version (every Anthropic SDK
// sends it) with anth, others with openai: GET /v1/models is both APIs'
// path, with different shapes.
func byDialect(openai, anth http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Anthropic-Version") != "" {
			anth.ServeHTTP(w, r)
			return
		}
		openai.ServeHTTP(w, r)
	})
}

// visibleModels returns the models the caller may use, in listing order.
func (s *Server) visibleModels(r *http.Request) ([]switchboard.Model, error) {
	models := []switchboard.Model{}
	l, ok := s.p.(switchboard.ModelLister)
	if !ok {
		return models, nil
	}
	ms, err := l.Models(r.Context())
	if err != nil {
		return nil, err
	}
	c := callerOf(r)
	for _, m := range ms {
		if c == nil || c.MayUse(m.ID) {
			models = append(models, m)
		}
	}
	return models, nil
}

// lookupModel describes id: a listed model, or any name the router serves
// ("provider/model"), if the caller may use it.
func (s *Server) lookupModel(r *http.Request, id string) (switchboard.Model, error) {
	if c := callerOf(r); c != nil && !c.MayUse(id) {
		return switchboard.Model{}, switchboard.ModelNotFound(id)
	}
	return switchboard.FindModel(r.Context(), s.p, id)
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	models, err := s.visibleModels(r)
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		Object string              `json:"object"`
		Data   []switchboard.Model `json:"data"`
	}{"list", models})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.lookupModel(r, r.PathValue("model"))
	if err != nil {
		return err
	}
	return writeJSON(w, m)
}

// listModelsAnthropic is GET /v1/models for Anthropic's SDKs: a page of
// limit (1–1000, default 20) models after after_id or before before_id.
func (s *Server) listModelsAnthropic(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return switchboard.InvalidParam("limit", "limit: must be an integer from 1 to 1000, got %q", v)
		}
		limit = n
	}
	after, before := q.Get("after_id"), q.Get("before_id")
	if after != "" && before != "" {
		return switchboard.InvalidParam("before_id", "give after_id or before_id, not both")
	}
	models, err := s.visibleModels(r)
	if err != nil {
		return err
	}
	index := func(id string) int {
		return slices.IndexFunc(models, func(m switchboard.Model) bool { return m.ID == id })
	}
	lo, hi := 0, len(models)
	switch {
	case after != "":
		if lo = index(after) + 1; lo == 0 {
			return switchboard.InvalidParam("after_id", "after_id: no model %q", after)
		}
		hi = min(lo+limit, len(models))
	case before != "":
		if hi = index(before); hi < 0 {
			return switchboard.InvalidParam("before_id", "before_id: no model %q", before)
		}
		lo = max(hi-limit, 0)
	default:
		hi = min(limit, len(models))
	}
	page := anthropic.ModelList{Data: make([]anthropic.ModelInfo, 0, hi-lo)}
	for _, m := range models[lo:hi] {
		page.Data = append(page.Data, anthropic.ModelInfoOf(m))
	}
	if before != "" {
		page.HasMore = lo > 0
	} else {
		page.HasMore = hi < len(models)
	}
	if n := len(page.Data); n > 0 {
		page.FirstID, page.LastID = page.Data[0].ID, page.Data[n-1].ID
	}
	return writeJSON(w, page)
}

func (s *Server) getModelAnthropic(w http.ResponseWriter, r *http.Request) error {
	m, err := s.lookupModel(r, r.PathValue("model"))
	if err != nil {
		return err
	}
	return writeJSON(w, anthropic.ModelInfoOf(m))
}
