// Package route is moat's upstream routing policy: which member of a pool of
// Azure OpenAI upstreams a call tries first, and which next when it fails,
// reproducing APIM's backend pools (wire reference §5.3). The gateway's
// transport walks the ordered list that Candidates returns and reports each
// attempt back with Observe; this package never does I/O.
//
// # Order
//
// Members are grouped by Priority (lower first). Inside a group the order is
// a weighted random permutation: the first member is drawn with probability
// weight/sum, the next from the rest, and so on. A member is left out while
// it is benched (it answered 429, for its retry-after) or while its circuit
// breaker is open. A lower group is reached only after every available
// member of the higher groups, so a call fails over inside its priority
// group first, as APIM's retry-over-a-pool does.
//
// # Headroom
//
// Azure's x-ratelimit-remaining-tokens steers traffic away from a member
// that is close to its own limit. With r the last remaining-tokens seen and
// p the largest seen in the last two HeadroomTTLs (an estimate of that
// deployment's TPM), the weight used is
//
//	weight × (0.1 + 0.9 × min(1, r/p))
//
// while r is younger than HeadroomTTL, and weight otherwise. The floor of
// 0.1 keeps a nearly full member in rotation, so a stale low reading heals.
//
// # Circuit breaker
//
// Each member has a breaker that opens after ConsecutiveFailures failures in
// a row, or when the failure rate in the last Window reaches FailureRate over
// at least MinRequests calls. A failure is a transport error or a 5xx; a 429
// benches the member but counts as alive. After OpenFor the breaker is
// half-open: the next Candidates puts the member first in its group as the
// single probe, and the probe's outcome closes or reopens it. A probe that
// is never reported frees up after ProbeTimeout.
//
// # Reload
//
// A config reload builds new pools; Carry hands each unchanged member's
// state (same Name and Target) from the old pool to the new one, shared
// rather than copied, so benches and open breakers survive the reload and
// late answers to calls made on the old pool still count.
//
// # When nothing is available
//
// If every member is benched or open, Candidates returns an *Unavailable
// error carrying the time until the soonest member is back; the gateway
// answers 503 with Retry-After (APIM returns 503 when a pool is all tripped).
// With Options.LastResort it instead returns that soonest member alone, for
// single-upstream setups that prefer the upstream's own 429 to a 503.
package route
