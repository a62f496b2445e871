package simulator

import (
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"
)

// Token counting and prompt caching of the Messages API.
//
// Input tokens are the prompt's segments (tool definitions, system blocks,
// content blocks) counted with tokens.Counter for the deployment's model,
// plus msgFraming per message; an image or document block counts
// msgImageTokens whatever its size, since the simulator does not decode it.
//
// The prompt cache is deterministic given the sequence of requests: a block
// with cache_control is a breakpoint, and the prompt up to and including it
// a cacheable prefix when it holds at least minCacheTokens. A request reads
// the longest of its prefixes that an earlier request wrote and that has not
// expired (cache_read_input_tokens), and writes its last prefix
// (cache_creation_input_tokens: the tokens past what it read). Every
// prefix it touches lives on for its TTL (5 minutes, or 1 hour for ttl
// "1h") from now. input_tokens is what is left. Prefixes are per
// deployment; the cache keeps at most maxCachedPrefixes and forgets the
// ones closest to expiry first.
const (
	msgFraming        = 3
	msgImageTokens    = 1600
	minCacheTokens    = 1024
	maxCachedPrefixes = 10_000
)

// msgUsage is the input side of a Messages answer's usage.
type msgUsage struct {
	input, cacheRead, cacheWrite5m, cacheWrite1h int
}

func (u msgUsage) cacheWrite() int { return u.cacheWrite5m + u.cacheWrite1h }

// promptCache remembers cached prefixes by hash until they expire.
type promptCache struct {
	mu      sync.Mutex
	entries map[uint64]time.Time
}

// msgInputTokens counts a request's prompt.
func (s *Server) msgInputTokens(dep *deployment, req *msgRequest) int {
	n := msgFraming * req.messages
	for _, seg := range req.segments {
		n += s.segmentTokens(dep, seg)
	}
	return n
}

func (s *Server) segmentTokens(dep *deployment, seg segment) int {
	if seg.image {
		return msgImageTokens
	}
	return s.tc.Count(dep.Model, seg.text)
}

// cacheUsage splits a prompt of total tokens into uncached, read and
// written tokens, and records what it wrote.
func (s *Server) cacheUsage(dep *deployment, req *msgRequest, total int, now time.Time) msgUsage {
	type prefix struct {
		hash   uint64
		tokens int
		ttl    time.Duration
	}
	var prefixes []prefix
	h := fnv.New64a()
	_, _ = h.Write([]byte(dep.Name))
	tokens := 0
	for _, seg := range req.segments {
		_, _ = h.Write([]byte{0})
		if seg.image {
			_, _ = h.Write([]byte{1})
		}
		_, _ = h.Write([]byte(seg.text))
		tokens += s.segmentTokens(dep, seg)
		if seg.cache > 0 && tokens >= minCacheTokens {
			prefixes = append(prefixes, prefix{h.Sum64(), tokens, seg.cache})
		}
	}
	u := msgUsage{input: total}
	if len(prefixes) == 0 {
		return u
	}
	c := &s.prompts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[uint64]time.Time{}
	}
	for _, p := range prefixes {
		if exp, ok := c.entries[p.hash]; ok && now.Before(exp) {
			u.cacheRead = p.tokens
		}
	}
	last := prefixes[len(prefixes)-1]
	if write := last.tokens - u.cacheRead; write > 0 {
		if last.ttl >= time.Hour {
			u.cacheWrite1h = write
		} else {
			u.cacheWrite5m = write
		}
	}
	u.input = max(total-u.cacheRead-u.cacheWrite(), 0)
	for _, p := range prefixes {
		if exp, ok := c.entries[p.hash]; !ok || exp.Before(now.Add(p.ttl)) {
			c.entries[p.hash] = now.Add(p.ttl)
		}
	}
	if len(c.entries) > maxCachedPrefixes {
		c.evict()
	}
	return u
}

// evict forgets the prefixes closest to expiry (the expired ones first)
// until the cache is back to three quarters of its bound.
func (c *promptCache) evict() {
	keys := slices.Collect(maps.Keys(c.entries))
	slices.SortFunc(keys, func(a, b uint64) int { return c.entries[a].Compare(c.entries[b]) })
	for _, k := range keys[:len(keys)-maxCachedPrefixes*3/4] {
		delete(c.entries, k)
	}
}
