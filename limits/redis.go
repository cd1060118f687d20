package limits

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Limiter = (*Redis)(nil)

// DefaultRedisPrefix is the key prefix of NewRedis when prefix is empty.
const DefaultRedisPrefix = "switchboard:limits"

// luaLib is the arithmetic of limits.go, in Lua, shared by the scripts.
// Numbers are doubles: exact for the integers below 2^53 that D, times in
// µs and limits up to 150,000,000 a minute produce.
const luaLib = `
redis.replicate_commands() -- for TIME before Redis 5; a no-op since
local W = 60000000
local MAXD = 2305843009213693952
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])

-- debt returns the debt of a rate key drained to now: 0 if absent.
local function debt(key, limit)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local d, t = string.match(v, '^(%d+) (%d+)$')
  d, t = tonumber(d), tonumber(t)
  if not d or not t then return 0 end
  if now > t then
    d = d - (now - t) * limit
    if d < 0 then d = 0 end
  end
  return d
end

-- store writes debt d of a rate key, expiring once it has drained.
local function store(key, d, limit)
  if d <= 0 then
    redis.call('DEL', key)
    return
  end
  redis.call('SET', key, string.format('%.0f %.0f', d, now), 'PX', math.ceil(d / limit / 1000) + 1000)
end
`

// admitScript checks and then commits every limit of an Admit.
//
// KEYS: one per limit. ARGV: lease ID, lease TTL in µs, then for each key
// its kind ("r" rate, "c" concurrency), limit and cost. It returns {ok,
// v1, v2, …}: for each key the debt (rate) or the slots held (concurrency),
// after the commit when ok is 1, before it when ok is 0.
var admitScript = redis.NewScript(luaLib + `
local res = {1}
for i = 1, #KEYS do
  local limit, cost = tonumber(ARGV[3*i+1]), tonumber(ARGV[3*i+2])
  local v
  if ARGV[3*i] == 'c' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    v = redis.call('ZCARD', KEYS[i])
    if v >= limit then res[1] = 0 end
  else
    v = debt(KEYS[i], limit)
    if cost > limit or v + cost * W > limit * W then res[1] = 0 end
  end
  res[i+1] = v
end
if res[1] == 0 then return res end
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  local limit, cost = tonumber(ARGV[3*i+1]), tonumber(ARGV[3*i+2])
  if ARGV[3*i] == 'c' then
    redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
    local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', KEYS[i], math.ceil((tonumber(last[2]) - now) / 1000) + 1000)
    res[i+1] = res[i+1] + 1
  else
    res[i+1] = res[i+1] + cost * W
    store(KEYS[i], res[i+1], limit)
  end
end
return res
`)

// applyScript adds to rates and releases concurrency leases, for Settle and
// Charge.
//
// KEYS: one per limit. ARGV: lease ID, then for each key its kind ("r" rate,
// "c" concurrency), limit and the units to add (negative to refund), which
// for "c" are ignored: the lease is released.
var applyScript = redis.NewScript(luaLib + `
for i = 1, #KEYS do
  if ARGV[3*i-1] == 'c' then
    redis.call('ZREM', KEYS[i], ARGV[1])
  else
    local limit, n = tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
    local d = debt(KEYS[i], limit) + n * W
    if d < 0 then d = 0 end
    if d > MAXD then d = MAXD end
    store(KEYS[i], d, limit)
  end
end
return 1
`)

// Redis is a Limiter shared by every replica through one Redis server (or
// one slot of a cluster: see the package doc). Each call is one atomic
// script, one round trip, on the server's clock. It does not own the client.
type Redis struct {
	c         redis.UniversalClient
	prefix    string
	leaseTTL  int64 // µs
	concRetry time.Duration
	node      string // starts this limiter's lease IDs
	seq       atomic.Uint64
}

// NewRedis returns a limiter that keeps its state in c under keys that start
// with prefix + ":" (DefaultRedisPrefix if prefix is empty). Limiters with
// the same server and prefix share their limits. It takes WithLeaseTTL and
// WithConcurrencyRetry.
func NewRedis(c redis.UniversalClient, prefix string, opts ...Option) *Redis {
	o := newOptions(opts)
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{
		c:         c,
		prefix:    prefix,
		leaseTTL:  o.leaseTTL.Microseconds(),
		concRetry: o.concRetry,
		node:      rand.Text()[:16],
	}
}

// Admit implements Limiter.
func (r *Redis) Admit(ctx context.Context, rules []Rule, tokens int64) (Decision, error) {
	if tokens < 0 {
		return Decision{}, ErrNegative
	}
	var ebuf [8]entry
	ents := appendEntries(ebuf[:0], rules, tokens)
	if len(ents) == 0 {
		return Decision{Allowed: true}, nil
	}
	id := ""
	for _, e := range ents {
		if e.kind == Concurrency {
			id = r.node + "-" + strconv.FormatUint(r.seq.Add(1), 36)
			break
		}
	}
	keys := make([]string, len(ents))
	args := make([]any, 2, 2+3*len(ents))
	args[0], args[1] = id, r.leaseTTL
	for i, e := range ents {
		keys[i] = r.key(&rules[e.rule], e.kind)
		args = append(args, kindCode(e.kind), e.limit, e.cost)
	}
	res, err := admitScript.Run(ctx, r.c, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("limits: redis admit: %w", err)
	}
	if len(res) != len(ents)+1 {
		return Decision{}, fmt.Errorf("limits: redis admit: got %d values, want %d", len(res), len(ents)+1)
	}
	ok := res[0] == 1
	d := decide(rules, ents, res[1:], ok, r.concRetry)
	if ok {
		d.Lease.r = r.newLease(rules, tokens, id)
	}
	return d, nil
}

// redisLease is the state of a Lease from a Redis.
type redisLease struct {
	owner   *Redis
	id      string // of the concurrency lease
	tokens  int64
	rules   []Rule // the rules with TPM or concurrency
	settled atomic.Bool
}

// newLease returns the lease of an admitted request, or nil if no rule has
// TPM or concurrency.
func (r *Redis) newLease(rules []Rule, tokens int64, id string) *redisLease {
	var l *redisLease
	for i := range rules {
		if rules[i].TPM > 0 || rules[i].Concurrency > 0 {
			if l == nil {
				l = &redisLease{owner: r, id: id, tokens: tokens}
			}
			l.rules = append(l.rules, rules[i])
		}
	}
	return l
}

// Settle implements Limiter.
func (r *Redis) Settle(ctx context.Context, lease *Lease, actualTokens int64) error {
	if lease == nil || lease.m == nil && lease.r == nil {
		return nil
	}
	l := lease.r
	switch {
	case actualTokens < 0:
		return ErrNegative
	case l == nil || l.owner != r:
		return ErrForeignLease
	case !l.settled.CompareAndSwap(false, true):
		return nil
	}
	delta := actualTokens - l.tokens
	var keys []string
	args := []any{l.id}
	for i := range l.rules {
		rule := &l.rules[i]
		if rule.TPM > 0 && delta != 0 {
			keys = append(keys, r.key(rule, Tokens))
			args = append(args, "r", min(rule.TPM, MaxLimit), delta)
		}
		if rule.Concurrency > 0 {
			keys = append(keys, r.key(rule, Concurrency))
			args = append(args, "c", 0, 0)
		}
	}
	return r.apply(ctx, "settle", keys, args)
}

// Charge implements Limiter.
func (r *Redis) Charge(ctx context.Context, rules []Rule, requests, tokens int64) error {
	if requests < 0 || tokens < 0 {
		return ErrNegative
	}
	var keys []string
	args := []any{""}
	for i := range rules {
		rule := &rules[i]
		if rule.RPM > 0 && requests > 0 {
			keys = append(keys, r.key(rule, Requests))
			args = append(args, "r", min(rule.RPM, MaxLimit), requests)
		}
		if rule.TPM > 0 && tokens > 0 {
			keys = append(keys, r.key(rule, Tokens))
			args = append(args, "r", min(rule.TPM, MaxLimit), tokens)
		}
	}
	return r.apply(ctx, "charge", keys, args)
}

func (r *Redis) apply(ctx context.Context, op string, keys []string, args []any) error {
	if len(keys) == 0 {
		return nil
	}
	if err := applyScript.Run(ctx, r.c, keys, args...).Err(); err != nil {
		return fmt.Errorf("limits: redis %s: %w", op, err)
	}
	return nil
}

// key returns the key of limit k of rule: prefix:scope:id:kind, with scope
// and id escaped so that neither can contain ":" (or a cluster hash tag).
func (r *Redis) key(rule *Rule, k Kind) string {
	var b strings.Builder
	b.Grow(len(r.prefix) + len(rule.Scope) + len(rule.ID) + 16)
	b.WriteString(r.prefix)
	b.WriteByte(':')
	escape(&b, rule.Scope)
	b.WriteByte(':')
	escape(&b, rule.ID)
	b.WriteByte(':')
	b.WriteString(k.String())
	return b.String()
}

func kindCode(k Kind) string {
	if k == Concurrency {
		return "c"
	}
	return "r"
}

// escape writes s to b with every byte other than ASCII letters, digits and
// "-._~" as %XX, so escaped strings never contain ":", "{" or "}" and
// distinct strings stay distinct.
func escape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}
