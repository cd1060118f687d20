package switchboard

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Decoder strictly decodes a plugin's own config block into v; unknown keys
// are an error that names the file and line.
type Decoder func(v any) error

// Deps are the shared dependencies handed to every plugin factory.
type Deps struct {
	// Log is the plugin's logger, already tagged with its kind.name.
	Log *slog.Logger
	// HTTP, when set, replaces the client a plugin would build for itself
	// (tests inject one); providers otherwise build a tuned transport.
	HTTP *http.Client
	// Timeouts bound the plugin's upstream calls (providers only).
	Timeouts Timeouts
	// Name is the name the plugin instance has in config ("upstream", "demo").
	Name string
}

// Factory builds a ready plugin value from its config block.
type Factory[T any] func(ctx context.Context, dec Decoder, deps Deps) (T, error)

// Registry maps the type names used in config to plugin factories.
type Registry[T any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]Factory[T]
}

// NewRegistry returns an empty registry for plugins of the given kind.
func NewRegistry[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, m: map[string]Factory[T]{}}
}

// Register adds a factory under name. It panics on a duplicate name: that is
// a programming error, caught at start-up.
func (r *Registry[T]) Register(name string, f Factory[T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("switchboard: %s.%s registered twice", r.kind, name))
	}
	r.m[name] = f
}

// New builds the plugin registered as name.
func (r *Registry[T]) New(ctx context.Context, name string, dec Decoder, deps Deps) (T, error) {
	r.mu.RLock()
	f, ok := r.m[name]
	r.mu.RUnlock()
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w %s %q (known: %s)", ErrUnknownPlugin, r.kind, name, strings.Join(r.Names(), ", "))
	}
	if deps.Log != nil {
		deps.Log = deps.Log.With(LogKeyPlugin, r.kind+"."+name)
	}
	return f(ctx, dec, deps)
}

// Has reports whether name is registered.
func (r *Registry[T]) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.m[name]
	return ok
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return slices.Clip(names)
}

// The registries of built-in plugin kinds.
var (
	// Providers holds upstream providers, keyed by the `type:` of a providers entry.
	Providers = NewRegistry[Provider]("provider")
	// Stores holds databases, keyed by storage.driver.
	Stores = NewRegistry[Store]("store")
)
