package switchboard

import "context"

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// Principal is the authenticated caller of a request.
type Principal struct {
	// TenantID is the tenant the caller belongs to; empty when the server runs open.
	TenantID string
	// KeyID identifies the API key used (never the key itself).
	KeyID string
}

// NewContextWithRequestID returns a context carrying the request ID.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request ID carried by ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// NewContextWithPrincipal returns a context carrying the authenticated caller.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFromContext returns the caller carried by ctx, if any.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

type unitKey struct{}

// NewContextWithUnit returns a context carrying the unit a request belongs
// to (a user, a session): sticky routing and experiments key on it.
func NewContextWithUnit(ctx context.Context, unit string) context.Context {
	return context.WithValue(ctx, unitKey{}, unit)
}

// UnitFromContext returns the unit carried by ctx, or "".
func UnitFromContext(ctx context.Context) string {
	u, _ := ctx.Value(unitKey{}).(string)
	return u
}
