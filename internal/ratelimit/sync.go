package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis that restarts without persistence, or is flushed, forgets the
// windows: every replica would admit a whole limit again inside the same
// minute. The epoch detects it: a random value each replica learns from
// Redis and passes to every script; an empty Redis has none, so the next
// script refuses to count and the replica syncs. A sync re-seeds this
// replica's whole part of the live windows and quota periods from its
// shadow when the epoch changed, and otherwise merges what it admitted (or
// settled) while Redis was away. Each batch carries an ID that Redis
// remembers for a few minutes, so a batch sent twice (a timeout after
// Redis applied it) counts once. While the replicas re-seed, a short hold
// sends every call down its backend-down path, so no replica admits
// against a window that lacks another replica's part; a local_share
// admission made during the hold goes into Redis while the hold stands
// (Redis.held), so none is missing from the window once it ends.

// batchScopes is the most scopes one re-seed script carries.
const batchScopes = 64

// markerTTL is how long Redis remembers a batch ID: far longer than a
// retry takes, and longer than the windows the batch fills.
const markerTTL = 3 * time.Minute

// batch is one re-seed or merge script call, resent as is until it lands.
type batch struct {
	keys []string
	args []any
}

// Run keeps the replica in step with the store until ctx ends: every
// SyncInterval it checks the epoch, re-seeds or merges when needed, and
// probes the store during an outage, so an idle replica re-seeds as fast
// as a busy one, every replica re-seeds within another's hold, and calls
// find the store back without waiting on it.
func (r *Redis) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	r.running.Store(true)
	defer r.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Probe even while the store is marked down: waiting here costs no
		// call, and every replica must find a restarted Redis within the
		// hold another replica set, or that replica's part of the window
		// is missing when shared admission resumes.
		now := r.now()
		tctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := r.sync(tctx, now, true)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.storeFailed(now, err)
		default:
			r.storeUp()
		}
	}
}

// sync learns the store's epoch (creating one in an empty store), then
// re-seeds or merges, then sends what is queued. Calls wait (within their
// deadline) for a sync in progress and then sync only if still needed;
// Run passes force to check the epoch every time.
func (r *Redis) sync(ctx context.Context, now time.Time, force bool) error {
	select {
	case r.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.syncSem }()
	if !force && !r.needSync.Load() {
		return nil // another call did it meanwhile
	}
	// Calls that come while this sync may merge wait for it (reserve), so
	// none admits through a store that lacks what this replica admitted
	// locally. A steady-state sync (Run's epoch check, nothing pending)
	// holds no one up.
	if r.dirty.Load() || len(r.outbox) > 0 || r.recovering.Load() || r.epochValue() == "" {
		r.merging.Store(true)
		defer r.merging.Store(false)
	}
	r.needSync.Store(false) // changes from here on ask for the next sync
	known := r.epochValue()
	var fresh [8]byte
	_, _ = rand.Read(fresh[:])
	cur, err := syncScript.Run(ctx, r.c, []string{r.prefix + "epoch"}, hex.EncodeToString(fresh[:])).Text()
	if err != nil {
		r.needSync.Store(true)
		return err
	}
	var cs []contribution
	switch {
	case cur != known:
		cs = r.own.snapshot(now)
		r.outbox = nil // the snapshot holds what they carried
		r.dirty.Store(false)
		if len(cs) > 0 {
			r.reseeds.Add(1)
			r.log.Warn("rate limit store lost its counters; putting this replica's part back",
				"scopes", len(cs), "hold", r.hold)
		}
	case r.dirty.Swap(false):
		cs = r.own.takePending(now)
		if len(cs) > 0 {
			r.merges.Add(1)
		}
	}
	if len(cs) > 0 && (cur != known || r.recovering.Load()) {
		if err := holdScript.Run(ctx, r.c, []string{r.prefix + "hold"}, r.hold.Milliseconds()).Err(); err != nil {
			r.outbox = append(r.outbox, r.batches(cs, now)...)
			r.needSync.Store(true)
			return err
		}
	}
	r.outbox = append(r.outbox, r.batches(cs, now)...)
	for len(r.outbox) > 0 {
		b := r.outbox[0]
		b.args[0] = cur
		n, err := applyScript.Run(ctx, r.c, b.keys, b.args...).Int64()
		if err != nil {
			r.needSync.Store(true)
			return err
		}
		if n == 2 { // the store lost its data again meanwhile
			r.needSync.Store(true)
			return nil
		}
		r.outbox = r.outbox[1:]
	}
	r.epoch.Store(&cur)
	r.recovering.Store(false)
	return nil
}

// batches turns contributions into script calls of at most batchScopes
// scopes, each with its own ID.
func (r *Redis) batches(cs []contribution, now time.Time) []batch {
	var out []batch
	for len(cs) > 0 {
		n := min(len(cs), batchScopes)
		r.seq++
		id := r.replica + ":" + strconv.FormatUint(r.seq, 10)
		b := batch{keys: []string{r.prefix + "epoch", r.prefix + "m:" + id},
			args: []any{"", markerTTL.Milliseconds(), now.UnixMilli(), n}}
		for _, c := range cs[:n] {
			b.keys = r.appendKeys(b.keys, &c.lim, c.qStart)
			b.args = append(b.args, c.lim.TPM, c.lim.RPM, len(c.buckets))
			for _, e := range c.buckets {
				b.args = append(b.args, e[0], e[1], e[2])
			}
			qTTL := int64(0)
			if c.q != 0 {
				qTTL = c.qEnd*1000 - now.UnixMilli() + quotaGrace.Milliseconds()
			}
			b.args = append(b.args, c.q, qTTL)
		}
		out = append(out, b)
		cs = cs[n:]
	}
	return out
}

// syncScript: KEYS = epoch. ARGV = a fresh epoch. Returns the epoch,
// setting the fresh one when there is none (an empty or new store).
var syncScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// holdScript: KEYS = hold. ARGV = ms. Holds shared admission for ms, never
// shortening a longer hold.
var holdScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
`)

// applyScript: KEYS = epoch, batch marker, then 3 per scope (token window,
// request window, quota counter). ARGV = epoch, marker_ttl_ms, now_ms, n,
// then per scope: tpm, rpm, bucket count, that many (second, tokens,
// requests), quota delta, quota_ttl_ms. It adds the buckets still in the
// window and the quota delta, once per marker: 0 applied, 1 already
// applied, 2 the epoch differs (nothing done).
var applyScript = redis.NewScript(`
local W = 60
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 2 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 1 end
local now_s = math.floor(tonumber(ARGV[3]) / 1000)
local n = tonumber(ARGV[4])
local function add(key, field, delta)
  local v = redis.call('HINCRBY', key, field, delta)
  if v < 0 then redis.call('HSET', key, field, 0) end
  redis.call('PEXPIRE', key, 2 * W * 1000)
end
local a = 5
for i = 1, n do
  local k = (i - 1) * 3 + 2
  local tpm, rpm, nb = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  for j = 1, nb do
    local sec = tonumber(ARGV[a])
    if sec > now_s - W then
      if tpm > 0 and tonumber(ARGV[a + 1]) ~= 0 then add(KEYS[k + 1], ARGV[a], ARGV[a + 1]) end
      if rpm > 0 and tonumber(ARGV[a + 2]) ~= 0 then add(KEYS[k + 2], ARGV[a], ARGV[a + 2]) end
    end
    a = a + 3
  end
  if tonumber(ARGV[a]) ~= 0 and tonumber(ARGV[a + 1]) > 0 then
    local v = redis.call('INCRBY', KEYS[k + 3], ARGV[a])
    if v < 0 then redis.call('SET', KEYS[k + 3], 0) end
    redis.call('PEXPIRE', KEYS[k + 3], ARGV[a + 1])
  end
  a = a + 2
end
return 0
`)
