package budget

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix of NewRedis when prefix is empty.
const DefaultPrefix = "switchboard:budget:"

// settleDedupe is how long Redis remembers a settled reservation, so that a
// Settle retried after an error that hid a commit does not count twice.
const settleDedupe = time.Minute

// NewRedis returns a Ledger that keeps its state in Redis under prefix
// (DefaultPrefix if empty), shared by every ledger on the same server and
// prefix. Each call is one Lua script, atomic across all its windows, plus
// one more round trip when a window has to be seeded. The ledger does not
// close c.
//
// Per window instance there is a hash Prefix+"w:"+window holding the spend
// ("s", or "b:<bucket index>" per bucket of a rolling window with "i" as a
// marker), the total reserved ("r") and the alert marks ("a:<threshold>"
// = Unix ms sent), and a sorted set Prefix+"z:"+window of the reservations
// on it, "<id>:<nano-dollars>" scored by their expiry in Unix ms.
func NewRedis(c goredis.UniversalClient, prefix string, o Options) *Ledger {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return newLedger(&redisStore{c: c, prefix: prefix}, o)
}

// redisStore is the backend of NewRedis.
type redisStore struct {
	c      goredis.UniversalClient
	prefix string
}

// luaPrelude is shared by every script. ARGV[1] is always now in Unix ms.
// Amounts from ARGV are passed on to Redis as the strings they came as, so
// that HINCRBY sees exact integers; sums made in Lua are doubles, exact
// below 2^53.
var luaPrelude = `
local now = tonumber(ARGV[1])

-- ensure reports whether window w has state, creating it with seed (which
-- is '' when the caller has none) if it has none. cur is the bucket index
-- of a rolling window, '0' for a calendar one; ttl the ms to keep it.
local function ensure(w, cur, ttl, seed)
  if redis.call('EXISTS', w) == 1 then return true end
  if seed == '' then return false end
  if cur == '0' then
    redis.call('HSET', w, 's', seed)
  else
    redis.call('HSET', w, 'i', '1', 'b:' .. cur, seed)
  end
  redis.call('PEXPIRE', w, ttl)
  return true
end

-- release gives back the amount of reservation member m of window w.
local function release(w, m)
  local amt = string.match(m, ':(%d+)$')
  if amt and amt ~= '0' then redis.call('HINCRBY', w, 'r', '-' .. amt) end
end

-- expire releases the reservations of window w (set z) expired by now.
local function expire(w, z)
  local dead = redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[1])
  if #dead == 0 then return end
  for _, m in ipairs(dead) do release(w, m) end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[1])
end

-- spent returns the spend of window w, dropping rolling buckets that aged
-- out. cur is as for ensure, as a number.
local function spent(w, cur)
  if cur == 0 then return tonumber(redis.call('HGET', w, 's') or '0') end
  local f = redis.call('HGETALL', w)
  local sum, old = 0, {}
  for i = 1, #f, 2 do
    local k = f[i]
    if string.sub(k, 1, 2) == 'b:' then
      if tonumber(string.sub(k, 3)) > cur - ` + strconv.Itoa(Buckets) + ` then
        sum = sum + tonumber(f[i + 1])
      else
        old[#old + 1] = k
      end
    end
  end
  if #old > 0 then redis.call('HDEL', w, unpack(old)) end
  return sum
end

local function reserved(w)
  return tonumber(redis.call('HGET', w, 'r') or '0')
end
`

// reserveScript reserves on every window if every blocking one has room.
// KEYS: w, z of each window. ARGV: now, member, amount, expiry (Unix ms),
// then per window: cur, ttl, seed, cap, block ('1' or '0').
// Returns {2, {missing indexes}}, or {0 allowed | 1 denied, denied index,
// then spent, reserved of each window (after the reservation if allowed)}.
var reserveScript = goredis.NewScript(luaPrelude + `
local member, amount, expiry = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local n = #KEYS / 2
local missing = {}
for i = 1, n do
  local a = 4 + (i - 1) * 5
  if not ensure(KEYS[2 * i - 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]) then
    missing[#missing + 1] = i - 1
  end
end
if #missing > 0 then return {2, missing} end
local out = {0, -1}
for i = 1, n do
  local a = 4 + (i - 1) * 5
  local w = KEYS[2 * i - 1]
  expire(w, KEYS[2 * i])
  local s, r = spent(w, tonumber(ARGV[a + 1])), reserved(w)
  if out[2] < 0 and ARGV[a + 5] == '1' and s + r + amount > tonumber(ARGV[a + 4]) then
    out[1], out[2] = 1, i - 1
  end
  out[2 * i + 1], out[2 * i + 2] = s, r
end
if out[1] == 1 then return out end
for i = 1, n do
  local a = 4 + (i - 1) * 5
  local w, z = KEYS[2 * i - 1], KEYS[2 * i]
  if amount > 0 then redis.call('HINCRBY', w, 'r', ARGV[3]) end
  redis.call('ZADD', z, expiry, member)
  redis.call('PEXPIRE', w, ARGV[a + 2])
  redis.call('PEXPIRE', z, ARGV[a + 2])
  out[2 * i + 2] = out[2 * i + 2] + amount
end
return out
`)

// spendScript releases a reservation (Settle) and adds spend, firing the
// alert thresholds it crosses.
// KEYS: settled, then w, z of each window reserved on, then w of each window
// to spend on. ARGV: now, reservation id, member (empty for Charge), amount,
// count of windows reserved on, oldest settle to remember (Unix ms), ms to
// keep settled, then per window to spend on:
// cur, ttl, seed, alert validity ms (0 = the instance), count of
// thresholds, then label, nano-dollars of each threshold.
// Returns {3} if already settled, {2, {missing indexes}}, or {0, then
// window, threshold index, spent after, of each alert to send}.
var spendScript = goredis.NewScript(luaPrelude + `
local id, member, amount = ARGV[2], ARGV[3], tonumber(ARGV[4])
local nrel = tonumber(ARGV[5])
if member ~= '' and redis.call('ZSCORE', KEYS[1], id) then return {3} end
local wins, a = {}, 8
for i = 1, #KEYS - 1 - 2 * nrel do
  local w = {key = KEYS[1 + 2 * nrel + i], cur = ARGV[a], ttl = ARGV[a + 1],
    seed = ARGV[a + 2], validity = tonumber(ARGV[a + 3]), thr = {}}
  local nthr = tonumber(ARGV[a + 4])
  a = a + 5
  for j = 1, nthr do
    w.thr[j] = {ARGV[a], tonumber(ARGV[a + 1])}
    a = a + 2
  end
  wins[i] = w
end
local missing = {}
for i, w in ipairs(wins) do
  if not ensure(w.key, w.cur, w.ttl, w.seed) then missing[#missing + 1] = i - 1 end
end
if #missing > 0 then return {2, missing} end
if member ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[1], id)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  for i = 1, nrel do
    local w, z = KEYS[2 * i], KEYS[2 * i + 1]
    expire(w, z)
    if redis.call('ZREM', z, member) == 1 then release(w, member) end
  end
end
local out = {0}
for i, w in ipairs(wins) do
  local cur = tonumber(w.cur)
  local before = spent(w.key, cur)
  if amount > 0 then
    local field = 's'
    if cur ~= 0 then field = 'b:' .. w.cur end
    redis.call('HINCRBY', w.key, field, ARGV[4])
  end
  redis.call('PEXPIRE', w.key, w.ttl)
  local after = before + amount
  for j, t in ipairs(w.thr) do
    if before < t[2] and after >= t[2] then
      local f = 'a:' .. t[1]
      local last = redis.call('HGET', w.key, f)
      if not last or (w.validity > 0 and now - tonumber(last) >= w.validity) then
        redis.call('HSET', w.key, f, ARGV[1])
        out[#out + 1] = i - 1
        out[#out + 1] = j - 1
        out[#out + 1] = after
      end
    end
  end
end
return out
`)

// statusScript returns the spent and reserved amounts of windows.
// KEYS: w, z of each window. ARGV: now, then per window: cur, ttl, seed.
// Returns {2, {missing indexes}} or {0, then spent, reserved of each window}.
var statusScript = goredis.NewScript(luaPrelude + `
local n = #KEYS / 2
local missing = {}
for i = 1, n do
  local a = 1 + (i - 1) * 3
  if not ensure(KEYS[2 * i - 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]) then
    missing[#missing + 1] = i - 1
  end
end
if #missing > 0 then return {2, missing} end
local out = {0}
for i = 1, n do
  local a = 1 + (i - 1) * 3
  local w = KEYS[2 * i - 1]
  expire(w, KEYS[2 * i])
  out[2 * i], out[2 * i + 1] = spent(w, tonumber(ARGV[a + 1])), reserved(w)
end
return out
`)

// member is how reservation id of amount n appears in the sorted sets.
func member(id string, n int64) string { return id + ":" + strconv.FormatInt(n, 10) }

// windowArgs appends the cur, ttl and seed arguments of w.
func windowArgs(args []any, w *window) []any {
	seed := ""
	if w.seeded {
		seed = strconv.FormatInt(w.seed, 10)
	}
	return append(args, w.cur, max(w.keep.Milliseconds(), 1), seed)
}

func (s *redisStore) reserve(ctx context.Context, op *reserveOp) (reserveResult, []int, error) {
	keys := make([]string, 0, 2*len(op.wins))
	args := make([]any, 0, 4+5*len(op.wins))
	args = append(args, op.now.UnixMilli(), member(op.id, op.amount), op.amount, op.expires.UnixMilli())
	for i := range op.wins {
		w := &op.wins[i]
		keys = append(keys, s.prefix+"w:"+w.key, s.prefix+"z:"+w.key)
		args = windowArgs(args, w)
		block := 0
		if w.block {
			block = 1
		}
		args = append(args, w.cap, block)
	}
	v, err := reserveScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return reserveResult{}, nil, fmt.Errorf("redis: %w", err)
	}
	if missing, ok, err := missingOf(v); ok || err != nil {
		return reserveResult{}, missing, err
	}
	if len(v) != 2+2*len(op.wins) {
		return reserveResult{}, nil, fmt.Errorf("redis: reserve script returned %d values, want %d", len(v), 2+2*len(op.wins))
	}
	res := reserveResult{
		denied:   int(asInt(v[1])),
		spent:    make([]int64, len(op.wins)),
		reserved: make([]int64, len(op.wins)),
	}
	for i := range op.wins {
		res.spent[i], res.reserved[i] = asInt(v[2+2*i]), asInt(v[3+2*i])
	}
	return res, nil, nil
}

func (s *redisStore) spend(ctx context.Context, op *spendOp) ([]firing, []int, error) {
	keys := []string{s.prefix + "settled"}
	id, mem, nrel := "", "", 0
	if r := op.settle; r != nil {
		id, mem, nrel = r.id, member(r.id, r.amount), len(r.keys)
		for _, k := range r.keys {
			keys = append(keys, s.prefix+"w:"+k, s.prefix+"z:"+k)
		}
	}
	args := []any{op.now.UnixMilli(), id, mem, op.amount, nrel,
		op.now.Add(-settleDedupe).UnixMilli(), (2 * settleDedupe).Milliseconds()}
	for i := range op.wins {
		w := &op.wins[i]
		keys = append(keys, s.prefix+"w:"+w.key)
		args = windowArgs(args, w)
		args = append(args, w.length.Milliseconds(), len(w.thresholds))
		for _, t := range w.thresholds {
			args = append(args, t.label, t.at)
		}
	}
	v, err := spendScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	if missing, ok, err := missingOf(v); ok || err != nil {
		return nil, missing, err
	}
	if asInt(v[0]) == 3 { // settled already, by a call whose reply was lost
		return nil, nil, nil
	}
	var fired []firing
	for i := 1; i+2 < len(v); i += 3 {
		f := firing{win: int(asInt(v[i])), thr: int(asInt(v[i+1])), spent: asInt(v[i+2])}
		if f.win < 0 || f.win >= len(op.wins) || f.thr < 0 || f.thr >= len(op.wins[f.win].thresholds) {
			return nil, nil, fmt.Errorf("redis: spend script fired window %d threshold %d out of range", f.win, f.thr)
		}
		fired = append(fired, f)
	}
	return fired, nil, nil
}

func (s *redisStore) status(ctx context.Context, now time.Time, wins []window) ([]int64, []int64, []int, error) {
	keys := make([]string, 0, 2*len(wins))
	args := make([]any, 0, 1+3*len(wins))
	args = append(args, now.UnixMilli())
	for i := range wins {
		w := &wins[i]
		keys = append(keys, s.prefix+"w:"+w.key, s.prefix+"z:"+w.key)
		args = windowArgs(args, w)
	}
	v, err := statusScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("redis: %w", err)
	}
	if missing, ok, err := missingOf(v); ok || err != nil {
		return nil, nil, missing, err
	}
	if len(v) != 1+2*len(wins) {
		return nil, nil, nil, fmt.Errorf("redis: status script returned %d values, want %d", len(v), 1+2*len(wins))
	}
	spent, reserved := make([]int64, len(wins)), make([]int64, len(wins))
	for i := range wins {
		spent[i], reserved[i] = asInt(v[1+2*i]), asInt(v[2+2*i])
	}
	return spent, reserved, nil, nil
}

// missingOf reads a {2, {indexes}} reply: ok reports whether v is one.
func missingOf(v []any) (missing []int, ok bool, err error) {
	if len(v) == 0 {
		return nil, false, fmt.Errorf("redis: empty script reply")
	}
	if asInt(v[0]) != 2 {
		return nil, false, nil
	}
	if len(v) != 2 {
		return nil, true, fmt.Errorf("redis: malformed missing-windows reply")
	}
	l, _ := v[1].([]any)
	for _, x := range l {
		missing = append(missing, int(asInt(x)))
	}
	if len(missing) == 0 {
		return nil, true, fmt.Errorf("redis: malformed missing-windows reply")
	}
	return missing, true, nil
}

// asInt returns a script reply element as an integer (Lua numbers arrive as
// integers; anything else as 0).
func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
