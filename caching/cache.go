package caching

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Target is one deployment an answer may come from: a provider and its
// upstream model name.
type Target struct {
	Provider string
	Model    string
}

// Resolver lists the deployments of a public model name, in configured
// order; the router implements it.
type Resolver interface {
	Candidates(model string) ([]Target, error)
}

// Cache results, as reported in Outcome.Cache and x-switchboard-cache.
const (
	ResultHit         = "hit"
	ResultSemanticHit = "semantic-hit"
	ResultMiss        = "miss"
	ResultBypass      = "bypass"
)

// Modes of a cache policy.
const (
	// ModeDeterministic caches only requests whose answer is reproducible:
	// temperature 0 or a seed, or a client that opted in per request.
	ModeDeterministic = "deterministic"
	// ModeAlways caches every request.
	ModeAlways = "always"
	// ModeOff never caches.
	ModeOff = "off"
)

// Policy says what a model's cache does.
type Policy struct {
	Mode string
	TTL  time.Duration
}

// Observer receives the cache's events, for metrics.
type Observer interface {
	// CacheResult is called once per request with the result and the tier of a hit.
	CacheResult(model, result, tier string)
	// SemanticShadow is called in shadow mode for each would-be semantic
	// hit, once the fresh answer is known: matched reports whether the
	// cached answer's text equals the fresh one.
	SemanticShadow(model string, matched bool)
}

// Options configure a Cache.
type Options struct {
	// Store is the tiered byte cache.
	Store switchboard.Cache
	// Resolver lists a model's deployments.
	Resolver Resolver
	// Default is the policy of models without their own.
	Default Policy
	// Models are per-model policies, by public model name.
	Models map[string]Policy
	// Tenants are per-tenant policies, by tenant ID; a model's own policy
	// wins over its tenant's.
	Tenants map[string]Policy
	// MaxTTL caps a TTL a request asks for (default: Default.TTL).
	MaxTTL time.Duration
	// Semantic, when set, is consulted after an exact miss.
	Semantic Semantic
	// SemanticShadow looks semantic hits up and reports them (and whether
	// the fresh answer matched) without serving them.
	SemanticShadow bool
	Log            *slog.Logger
	Observer       Observer
	Now            func() time.Time
}

// Cache is the response cache, a switchboard.Provider (and Embedder) in
// front of next.
type Cache struct {
	next    switchboard.Provider
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	mu      sync.Mutex
	flights map[string]*flight
}

var (
	_ switchboard.Provider = (*Cache)(nil)
	_ switchboard.Embedder = (*Cache)(nil)
)

// flight is an upstream call that concurrent identical misses wait for.
type flight struct {
	done   chan struct{}
	resp   *switchboard.ChatResponse // nil: failed or not cacheable; waiters call upstream themselves
	served entry                     // who answered (Provider, Model)
}

// New returns a cache in front of next.
func New(next switchboard.Provider, opts Options) *Cache {
	if opts.Default.Mode == "" {
		opts.Default.Mode = ModeDeterministic
	}
	if opts.Default.TTL <= 0 {
		opts.Default.TTL = 24 * time.Hour
	}
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = max(opts.Default.TTL, 24*time.Hour)
	}
	c := &Cache{next: next, opts: opts, log: opts.Log, now: opts.Now, flights: map[string]*flight{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// policy returns the cache policy of a request: the model's own, else the
// tenant's, else the default; unset fields fall through the same way.
func (c *Cache) policy(ctx context.Context, model string) Policy {
	p := c.opts.Default
	if pr, ok := switchboard.PrincipalFromContext(ctx); ok {
		if tp, ok := c.opts.Tenants[pr.TenantID]; ok {
			p = overlay(p, tp)
		}
	}
	if mp, ok := c.opts.Models[model]; ok {
		p = overlay(p, mp)
	}
	return p
}

func overlay(base, over Policy) Policy {
	if over.Mode != "" {
		base.Mode = over.Mode
	}
	if over.TTL > 0 {
		base.TTL = over.TTL
	}
	return base
}

// plan is the cache's decision for one chat request.
type plan struct {
	cc      switchboard.CacheControl
	keys    []string // one per deployment, in order
	target  []Target
	ttl     time.Duration
	tenant  string
	ns      string
	text    string                    // the last user message, for the semantic tier
	context string                    // the request without it: what a semantic match must share
	shadow  *switchboard.ChatResponse // shadow mode: the answer a semantic hit would have served
	model   string
}

// prepare decides whether a request is cached, and computes its keys. A nil
// plan means bypass.
func (c *Cache) prepare(ctx context.Context, model string, req *switchboard.ChatRequest) (*plan, error) {
	cc, err := takeBodyControl(req, switchboard.CacheControlFromContext(ctx))
	if err != nil {
		return nil, err
	}
	pol := c.policy(ctx, model)
	switch {
	case pol.Mode == ModeOff:
		return nil, nil
	case pol.Mode == ModeAlways || cc.Force:
	case req.Temperature != nil && *req.Temperature == 0:
	case req.Seed != nil:
	default:
		return nil, nil
	}
	targets, err := c.opts.Resolver.Candidates(model)
	if err != nil {
		return nil, nil // the router reports the unknown model
	}
	canon, err := canonical(req)
	if err != nil {
		return nil, nil
	}
	p := &plan{cc: cc, target: targets, ttl: pol.TTL, ns: cc.Namespace}
	if cc.TTL > 0 {
		p.ttl = min(cc.TTL, c.opts.MaxTTL)
	}
	if pr, ok := switchboard.PrincipalFromContext(ctx); ok {
		p.tenant = pr.TenantID
	}
	for _, t := range targets {
		p.keys = append(p.keys, chatKey(p.tenant, p.ns, t, canon))
	}
	if c.opts.Semantic != nil {
		if p.text = lastUserText(req); p.text != "" {
			p.context = contextOf(req)
		}
	}
	return p, nil
}

// lookup returns a cached answer for the plan's deployments, if any.
func (c *Cache) lookup(ctx context.Context, p *plan) (*entry, string, string) {
	if p.cc.NoCache {
		return nil, "", ""
	}
	now := c.now()
	for _, k := range p.keys {
		b, tier, ok := c.get(ctx, k)
		if !ok {
			continue
		}
		e, err := decodeEntry(b)
		if err != nil {
			c.log.Warn("cache entry unreadable", "key", k, "err", err)
			continue
		}
		if p.cc.MaxAge != nil && e.age(now) > *p.cc.MaxAge {
			continue
		}
		return e, tier, k
	}
	return nil, "", ""
}

type tierGetter interface {
	GetTier(ctx context.Context, key string) ([]byte, string, bool, error)
}

func (c *Cache) get(ctx context.Context, key string) ([]byte, string, bool) {
	if tg, ok := c.opts.Store.(tierGetter); ok {
		b, tier, ok, err := tg.GetTier(ctx, key)
		if err != nil {
			c.log.Warn("cache read failed", "err", err)
		}
		return b, tier, ok && err == nil
	}
	b, ok, err := c.opts.Store.Get(ctx, key)
	if err != nil {
		c.log.Warn("cache read failed", "err", err)
		return nil, "", false
	}
	return b, "cache", ok
}

// store saves resp under the key of the deployment that produced it (never
// the one asked for, so a fallback's answer cannot poison the primary's).
func (c *Cache) store(ctx context.Context, p *plan, resp *switchboard.ChatResponse) {
	if p.cc.NoStore || !complete(resp) {
		return
	}
	out := switchboard.OutcomeFromContext(ctx)
	if out == nil {
		return
	}
	key := ""
	for i, t := range p.target {
		if t.Provider == out.Provider && t.Model == out.UpstreamModel {
			key = p.keys[i]
		}
	}
	if key == "" {
		return // answered by another model's fallback: not this model's to keep
	}
	body := resp.Raw
	if body == nil {
		var err error
		if body, err = json.Marshal(resp); err != nil {
			return
		}
	}
	b := (&entry{Created: c.now().UnixNano(), Provider: out.Provider, Model: out.UpstreamModel, Response: body}).encode()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.opts.Store.Set(sctx, key, b, p.ttl); err != nil {
		c.log.Warn("cache write failed", "err", err)
		return
	}
	out.CacheKey = key
	if c.opts.Semantic != nil && p.text != "" {
		if err := c.opts.Semantic.Store(sctx, semanticNamespace(p, out), key, p.text); err != nil {
			c.log.Warn("semantic cache store failed", "err", err)
		}
	}
	if p.shadow != nil && c.opts.Observer != nil {
		c.opts.Observer.SemanticShadow(p.model, sameAnswer(p.shadow, resp))
	}
}

func (c *Cache) report(ctx context.Context, model, result, tier string, e *entry, sim float64) {
	if out := switchboard.OutcomeFromContext(ctx); out != nil {
		out.Cache, out.CacheTier, out.Similarity = result, tier, sim
		if e != nil {
			out.Provider, out.UpstreamModel, out.Model = e.Provider, e.Model, model
		}
	}
	if c.opts.Observer != nil {
		c.opts.Observer.CacheResult(model, result, tier)
	}
}

// join returns the flight for key, and whether the caller leads it.
func (c *Cache) join(key string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[key]; ok {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	return f, true
}

func (c *Cache) land(ctx context.Context, key string, f *flight, resp *switchboard.ChatResponse) {
	c.mu.Lock()
	delete(c.flights, key)
	c.mu.Unlock()
	if complete(resp) {
		f.resp = resp
		if out := switchboard.OutcomeFromContext(ctx); out != nil {
			f.served = entry{Provider: out.Provider, Model: out.UpstreamModel}
		}
	}
	close(f.done)
}

// wait waits for a flight another request leads; nil means call upstream.
func wait(ctx context.Context, f *flight) (*switchboard.ChatResponse, error) {
	select {
	case <-f.done:
		if out := switchboard.OutcomeFromContext(ctx); out != nil && f.resp != nil {
			out.Provider, out.UpstreamModel = f.served.Provider, f.served.Model
		}
		return f.resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Chat implements switchboard.Provider.
func (c *Cache) Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	p, err := c.prepare(ctx, model, req)
	if err != nil {
		return nil, err
	}
	if p == nil {
		c.report(ctx, model, ResultBypass, "", nil, 0)
		return c.next.Chat(ctx, model, req)
	}
	if resp, ok := c.hit(ctx, model, req, p); ok {
		return resp, nil
	}
	f, leader := c.join(p.keys[0])
	if !leader {
		resp, err := wait(ctx, f)
		if err != nil {
			return nil, err
		}
		if resp != nil {
			c.report(ctx, model, ResultHit, "flight", &f.served, 0)
			return resp, nil
		}
		c.report(ctx, model, ResultMiss, "", nil, 0)
		return c.next.Chat(ctx, model, req)
	}
	c.report(ctx, model, ResultMiss, "", nil, 0)
	resp, err := c.next.Chat(ctx, model, req)
	if err == nil {
		c.store(ctx, p, resp)
	}
	c.land(ctx, p.keys[0], f, resp)
	return resp, err
}

// hit answers from the cache (exact, then semantic) when it can.
func (c *Cache) hit(ctx context.Context, model string, req *switchboard.ChatRequest, p *plan) (*switchboard.ChatResponse, bool) {
	if e, tier, key := c.lookup(ctx, p); e != nil {
		resp, err := switchboard.DecodeChatResponse(e.Response)
		if err == nil {
			c.report(ctx, model, ResultHit, tier, e, 0)
			if out := switchboard.OutcomeFromContext(ctx); out != nil {
				out.CacheKey = key
			}
			return resp, true
		}
	}
	if c.opts.Semantic == nil || p.cc.NoCache {
		return nil, false
	}
	if p.text == "" {
		return nil, false
	}
	for i := range p.target {
		key, sim, ok, err := c.opts.Semantic.Lookup(ctx, semanticNamespace(p, &switchboard.Outcome{Provider: p.target[i].Provider, UpstreamModel: p.target[i].Model}), p.text, p.cc.MinSimilarity)
		if err != nil {
			c.log.Warn("semantic cache lookup failed", "err", err)
			return nil, false
		}
		if !ok {
			continue
		}
		b, tier, ok := c.get(ctx, key)
		if !ok {
			continue
		}
		e, err := decodeEntry(b)
		if err != nil || (p.cc.MaxAge != nil && e.age(c.now()) > *p.cc.MaxAge) {
			continue
		}
		resp, err := switchboard.DecodeChatResponse(e.Response)
		if err != nil {
			continue
		}
		if c.opts.SemanticShadow {
			p.shadow, p.model = resp, model
			c.log.Debug("semantic shadow hit", switchboard.LogKeyModel, model, "similarity", sim)
			return nil, false
		}
		c.report(ctx, model, ResultSemanticHit, tier, e, float64(sim))
		if out := switchboard.OutcomeFromContext(ctx); out != nil {
			out.CacheKey = key
		}
		return resp, true
	}
	return nil, false
}

// ChatStream implements switchboard.Provider. A hit is replayed as a stream;
// a miss streams from upstream as it arrives and is stored once complete.
func (c *Cache) ChatStream(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	p, err := c.prepare(ctx, model, req)
	if err != nil {
		return nil, err
	}
	if p == nil {
		c.report(ctx, model, ResultBypass, "", nil, 0)
		return c.next.ChatStream(ctx, model, req)
	}
	if resp, ok := c.hit(ctx, model, req, p); ok {
		return newReplay(resp), nil
	}
	f, leader := c.join(p.keys[0])
	if !leader {
		resp, err := wait(ctx, f)
		if err != nil {
			return nil, err
		}
		if resp != nil {
			c.report(ctx, model, ResultHit, "flight", &f.served, 0)
			return newReplay(resp), nil
		}
		c.report(ctx, model, ResultMiss, "", nil, 0)
		return c.next.ChatStream(ctx, model, req)
	}
	c.report(ctx, model, ResultMiss, "", nil, 0)
	s, err := c.next.ChatStream(ctx, model, req)
	if err != nil {
		c.land(ctx, p.keys[0], f, nil)
		return nil, err
	}
	return &recording{ChatStream: s, c: c, ctx: ctx, p: p, f: f, acc: newAccumulator()}, nil
}

// recording passes a stream through and stores it once it ended normally.
type recording struct {
	switchboard.ChatStream
	c      *Cache
	ctx    context.Context
	p      *plan
	f      *flight
	acc    *accumulator
	landed bool
}

func (r *recording) Recv() (*switchboard.Chunk, error) {
	ch, err := r.ChatStream.Recv()
	if err == nil {
		r.acc.add(ch)
		return ch, nil
	}
	if !r.landed {
		r.landed = true
		var resp *switchboard.ChatResponse
		if errors.Is(err, errEOF) {
			resp = r.acc.response()
			if resp != nil {
				r.c.store(r.ctx, r.p, resp)
			}
		}
		r.c.land(r.ctx, r.p.keys[0], r.f, resp)
	}
	return nil, err
}

func (r *recording) Close() error {
	if !r.landed {
		r.landed = true
		r.c.land(r.ctx, r.p.keys[0], r.f, nil) // cut short: nothing stored
	}
	return r.ChatStream.Close()
}

func lastUserText(req *switchboard.ChatRequest) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			return req.Messages[i].Text()
		}
	}
	return ""
}

// Models forwards to the next provider's model list.
func (c *Cache) Models(ctx context.Context) ([]switchboard.Model, error) {
	if l, ok := c.next.(switchboard.ModelLister); ok {
		return l.Models(ctx)
	}
	return nil, nil
}

// Model forwards to the next provider's model description.
func (c *Cache) Model(ctx context.Context, id string) (switchboard.Model, error) {
	return switchboard.FindModel(ctx, c.next, id)
}

// Ping forwards to the next provider's health check.
func (c *Cache) Ping(ctx context.Context) error {
	if p, ok := c.next.(switchboard.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// CountTokens forwards to the next provider's token counter.
func (c *Cache) CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error) {
	if tc, ok := c.next.(interface {
		CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error)
	}); ok {
		return tc.CountTokens(ctx, model, req)
	}
	return 0, fmt.Errorf("caching: %w", errors.ErrUnsupported)
}

// sameAnswer reports whether two completions say the same thing (the text
// and tool calls of every choice), for shadow mode's false-hit measure.
func sameAnswer(a, b *switchboard.ChatResponse) bool {
	if a == nil || b == nil || len(a.Choices) != len(b.Choices) {
		return false
	}
	for i := range a.Choices {
		ma, mb := &a.Choices[i].Message, &b.Choices[i].Message
		if ma.Text() != mb.Text() || len(ma.ToolCalls) != len(mb.ToolCalls) {
			return false
		}
		for j := range ma.ToolCalls {
			if ma.ToolCalls[j].Function != mb.ToolCalls[j].Function {
				return false
			}
		}
	}
	return true
}
