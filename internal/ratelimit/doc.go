// Package ratelimit enforces moat's token and request limits the way Azure
// API Management's llm-token-limit does (wire reference §2.9, §5.1): a call
// reserves its estimated tokens at admission, before the upstream is called,
// and settles to the real usage afterwards, like golang.org/x/time/rate's
// Reservation. One call is charged to several scopes at once (key, principal,
// deployment, key×deployment), and admission is all-or-nothing across them.
//
// # Algorithm
//
// Tokens-per-minute and requests-per-minute use a sliding window of 60 s made
// of 1 s buckets. A bucket stamped with second s counts while now < s+60 s, so
// the sum over the window is exact at 1 s granularity: the tokens admitted in
// any 60 s span that starts on a whole second (every clock-aligned minute in
// particular) never exceed the limit, because a call is admitted only when
// used + estimate ≤ limit. A token bucket or GCRA would allow up to twice the
// limit inside one clock minute (a full burst plus the refill), which is why it
// is not used. When a call is denied, the retry-after is exact: the oldest
// buckets are freed one by one until the call fits, and the answer is the
// moment that bucket leaves the window. A call larger than the limit itself
// can never fit; it is denied with a retry-after of one window.
//
// RPM uses the same 60 s window. Azure itself polices RPM over 1 s or 10 s
// sub-windows (§2.9); moat's own limits follow APIM's per-minute policies
// instead, so a client may spend its RPM in a burst.
//
// In Local, a scope's window only moves forward: a caller whose clock is
// behind the latest second the scope has seen (another goroutine, a skewed
// replica) is charged as if at that second, which errs on the side of
// limiting. Redis takes each replica's clock as given, so replicas need
// synchronized clocks (NTP), as any time-based shared limit does.
//
// Quotas are plain counters per calendar period in UTC (hour, day, week
// starting Monday, month, year). The retry-after of a quota denial is the end
// of the period.
//
// Settle replaces the estimate with the actual count. The difference goes to
// the bucket the call was admitted in while that bucket is still in the
// window, so the window stays exact; an increase that arrives after the
// bucket left the window (a call longer than a minute) is charged to the
// current bucket instead, and a refund that late is dropped. A quota
// difference goes to the period of admission. Settle never denies: a call
// that used more than it estimated pushes the next admissions back, which is
// the "could be exceeded temporarily" that APIM documents. Cancel (the
// upstream was never called) refunds both the tokens and the request.
//
// # Implementations
//
// Local is in-process: one mutex per scope, scopes locked in key order so
// multi-scope calls cannot deadlock. Redis shares the counters across
// replicas with Lua scripts (reserve and settle) run with EVALSHA and an
// EVAL fallback, so every replica sees one exact window. Every call waits
// on Redis at most Timeout (ClientOptions builds a client whose own waits
// agree). When Redis cannot be reached, each limit declares what happens:
// fail_closed denies with a 503, local_share admits against LocalShare of
// the limit in this replica.
//
// A Redis limiter keeps a shadow (a Local) of everything its replica
// admitted, through Redis or locally. An epoch key tells whether Redis
// still holds the fleet's counts: when it is missing (Redis restarted
// empty), each replica re-seeds its part of the live windows and quota
// periods from its shadow under a short hold before admitting again, and
// after an outage it merges what it admitted locally. Re-seed batches carry
// IDs so a resent batch counts once (sync.go). The local_share fallback
// counts against the shadow, so what a replica admitted through Redis
// before an outage still counts against its share.
//
// Each window hash records the limit it was last charged under; a replica
// that finds another one reports drift (Drifts, a rate-limited log line).
//
// Redis keys are <prefix>t:<scope key> and <prefix>r:<scope key> (hashes of
// second → count, expiring 2 min after their last write) and
// <prefix>q:<scope key>:<period>:<period start unix> (a counter expiring
// 10 min after its period). Quotas survive a gateway restart as long as Redis
// keeps its data (persistence is the operator's choice). Redis Cluster needs
// a hash tag in the prefix, since one script touches a call's several keys.
//
// Settle through Redis is a network call: pass a context that outlives the
// client's (context.WithoutCancel) so a disconnected client is still charged.
//
// Time is a parameter everywhere, so tests drive a fake clock and never sleep.
package ratelimit
