package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// adminRoutes adds the tenant, key, usage and budget routes of the admin API.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	admin, read := switchboard.ScopeAdmin, switchboard.ScopeReadOnly
	mux.Handle("GET /admin/v1/tenants", s.wrap(s.authed(read, s.listTenants)))
	mux.Handle("POST /admin/v1/tenants", s.wrap(s.authed(admin, s.createTenant)))
	mux.Handle("GET /admin/v1/tenants/{name}", s.wrap(s.authed(read, s.getTenant)))
	mux.Handle("PUT /admin/v1/tenants/{name}", s.wrap(s.authed(admin, s.updateTenant)))
	mux.Handle("DELETE /admin/v1/tenants/{name}", s.wrap(s.authed(admin, s.deleteTenant)))
	mux.Handle("GET /admin/v1/keys", s.wrap(s.authed(read, s.listKeys)))
	mux.Handle("POST /admin/v1/keys", s.wrap(s.authed(admin, s.createKey)))
	mux.Handle("DELETE /admin/v1/keys/{id}", s.wrap(s.authed(admin, s.revokeKey)))
	mux.Handle("POST /admin/v1/keys/{id}/revoke", s.wrap(s.authed(admin, s.revokeKey)))
	mux.Handle("GET /admin/v1/usage", s.wrap(s.authed(read, s.usageReport)))
	mux.Handle("GET /admin/v1/budgets", s.wrap(s.authed(read, s.budgets)))
	mux.Handle("GET /admin/v1/pricing/unpriced", s.wrap(s.authed(read, s.unpriced)))
}

func (s *Server) tenantService() (*tenancy.Service, error) {
	if s.tenants == nil {
		return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Message: "tenant management is not available on this server"}
	}
	return s.tenants, nil
}

// decodeStrict decodes a JSON body into v, rejecting unknown fields and
// naming the field at fault.
func (s *Server) decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// Embedded structs show up in the path by their Go name.
			field := strings.ReplaceAll(strings.TrimPrefix(te.Field, "Spec."), ".Spec.", ".")
			return switchboard.InvalidParam(field, "field %s: expected %s, got %s", field, jsonKindOf(te.Type), te.Value)
		}
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return switchboard.InvalidParam(strings.Trim(f, `"`), "unknown field %s", f)
		}
		return switchboard.Errorf(switchboard.CodeInvalidRequest, "invalid JSON body: %s", strings.TrimPrefix(msg, "json: "))
	}
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	ts := svc.Directory().Tenants()
	return writeJSON(w, map[string]any{"object": "list", "data": ts})
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	t, ok := svc.Directory().Tenant(name)
	if !ok {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: "no tenant " + quote(name)}
	}
	out := map[string]any{"tenant": t, "keys": orEmpty(svc.Keys(name))}
	if s.quota != nil {
		st, err := s.quota.BudgetStatus(r.Context(), "tenant", name)
		if err != nil {
			return err
		}
		out["budget_status"] = st
	}
	return writeJSON(w, out)
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	var spec tenancy.TenantSpec
	if err := s.decodeStrict(w, r, &spec); err != nil {
		return err
	}
	t, err := svc.CreateTenant(r.Context(), spec)
	if err != nil {
		return err
	}
	s.log.Info("tenant created", switchboard.LogKeyTenant, t.Name, "by", callerID(r))
	return writeJSONStatus(w, http.StatusCreated, t)
}

func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	var spec tenancy.TenantSpec
	if err := s.decodeStrict(w, r, &spec); err != nil {
		return err
	}
	name := r.PathValue("name")
	if spec.Name != "" && spec.Name != name {
		return switchboard.InvalidParam("name", "the body names tenant %q but the path %q; a tenant cannot be renamed", spec.Name, name)
	}
	spec.Name = name
	t, err := svc.UpdateTenant(r.Context(), spec)
	if err != nil {
		return err
	}
	s.log.Info("tenant updated", switchboard.LogKeyTenant, t.Name, "by", callerID(r))
	return writeJSON(w, t)
}

func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := svc.DeleteTenant(r.Context(), name); err != nil {
		return err
	}
	s.log.Info("tenant deleted", switchboard.LogKeyTenant, name, "by", callerID(r))
	return writeJSON(w, map[string]any{"deleted": true, "name": name})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"object": "list", "data": orEmpty(svc.Keys(r.URL.Query().Get("tenant")))})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	var spec tenancy.KeySpec
	if err := s.decodeStrict(w, r, &spec); err != nil {
		return err
	}
	key, k, err := svc.CreateKey(r.Context(), spec)
	if err != nil {
		return err
	}
	s.log.Info("API key created", switchboard.LogKeyTenant, k.TenantID, "key_id", k.ID, "by", callerID(r))
	w.Header().Set("Cache-Control", "no-store")
	return writeJSONStatus(w, http.StatusCreated, struct {
		*switchboard.APIKey
		Key string `json:"key"`
	}{k, key})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tenantService()
	if err != nil {
		return err
	}
	k, err := svc.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.log.Info("API key revoked", switchboard.LogKeyTenant, k.TenantID, "key_id", k.ID, "by", callerID(r))
	return writeJSON(w, k)
}

// usageGroups are the dimensions ?by= may name.
var usageGroups = []string{switchboard.GroupTenant, switchboard.GroupKey, switchboard.GroupModel, switchboard.GroupDay, switchboard.GroupCache}

// ParseUsageGroups reads a comma-separated list of usage dimensions.
func ParseUsageGroups(by string) ([]string, error) {
	if by == "" {
		by = "tenant"
	}
	var out []string
	for _, g := range strings.Split(by, ",") {
		g = strings.TrimSpace(g)
		if !slices.Contains(usageGroups, g) {
			return nil, switchboard.InvalidParam("by", "unknown usage dimension %q (allowed: %s)", g, strings.Join(usageGroups, ", "))
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// usageReport answers GET /admin/v1/usage?by=tenant,day&since=7d with rows
// of requests, tokens and cost; ?format=csv for a spreadsheet.
func (s *Server) usageReport(w http.ResponseWriter, r *http.Request) error {
	if s.usage == nil {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: "usage reports are not available on this server"}
	}
	q := r.URL.Query()
	groups, err := ParseUsageGroups(q.Get("by"))
	if err != nil {
		return err
	}
	since, err := ParseSince(q.Get("since"), time.Now())
	if err != nil {
		return err
	}
	f := switchboard.InferenceFilter{Since: since, TenantID: q.Get("tenant"), KeyID: q.Get("key"), Model: q.Get("model")}
	if c := callerOf(r); c != nil && !c.Can(switchboard.ScopeAdmin) && !c.Can(switchboard.ScopeReadOnly) {
		f.TenantID = c.Tenant.Name
	}
	rows, err := s.usage.SumInferences(r.Context(), f, groups)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []switchboard.InferenceSum{}
	}
	switch q.Get("format") {
	case "", "json":
		return writeJSON(w, map[string]any{"since": since.UTC().Format(time.RFC3339), "by": groups, "data": rows})
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		return WriteUsageCSV(w, groups, rows)
	default:
		return switchboard.InvalidParam("format", "format must be json or csv, got %q", q.Get("format"))
	}
}

// WriteUsageCSV writes usage rows as CSV: the grouped columns, then the sums.
func WriteUsageCSV(w interface{ Write([]byte) (int, error) }, groups []string, rows []switchboard.InferenceSum) error {
	cw := csv.NewWriter(w)
	head := append(slices.Clone(groups), "requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, row := range rows {
		rec := make([]string, 0, len(head))
		for _, g := range groups {
			rec = append(rec, UsageDim(row, g))
		}
		rec = append(rec, strconv.FormatInt(row.Requests, 10), strconv.FormatInt(row.InputTokens, 10),
			strconv.FormatInt(row.OutputTokens, 10), strconv.FormatInt(row.CachedTokens, 10),
			strconv.FormatFloat(row.CostUSD, 'f', -1, 64))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// UsageDim returns a row's value of one dimension.
func UsageDim(row switchboard.InferenceSum, g string) string {
	switch g {
	case switchboard.GroupTenant:
		return row.Tenant
	case switchboard.GroupKey:
		return row.KeyID
	case switchboard.GroupModel:
		return row.Model
	case switchboard.GroupDay:
		return row.Day
	case switchboard.GroupCache:
		return row.Cache
	}
	return ""
}

// budgets answers GET /admin/v1/budgets: each budget's windows, spend and
// reservations (?tenant= or ?key= for one).
func (s *Server) budgets(w http.ResponseWriter, r *http.Request) error {
	if s.quota == nil {
		return writeJSON(w, map[string]any{"object": "list", "data": []any{}})
	}
	q := r.URL.Query()
	kind, id := "", ""
	switch {
	case q.Get("tenant") != "":
		kind, id = "tenant", q.Get("tenant")
	case q.Get("key") != "":
		kind, id = "key", q.Get("key")
	}
	st, err := s.quota.BudgetStatus(r.Context(), kind, id)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"object": "list", "data": st})
}

// unpriced answers GET /admin/v1/pricing/unpriced: the deployments whose
// cost is recorded as unknown.
func (s *Server) unpriced(w http.ResponseWriter, r *http.Request) error {
	var list []string
	if s.quota != nil {
		list = s.quota.Unpriced()
	}
	if list == nil {
		list = []string{}
	}
	return writeJSON(w, map[string]any{"unpriced": list})
}

func callerOf(r *http.Request) *tenancy.Caller { return entryFrom(r.Context()).caller }

func callerID(r *http.Request) string {
	if c := callerOf(r); c != nil {
		return c.Key.ID
	}
	return "loopback"
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// jsonKindOf names the JSON kind a Go type decodes from.
func jsonKindOf(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a JSON value"
		}
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}
