package simulator

import "sync/atomic"

// Stats are counters of what the simulator served, so that tests and load
// reports can check what reached the "model".
type Stats struct {
	// Requests is every request received, whatever its answer.
	Requests int64
	// Succeeded is requests answered 200 (streams count when they start).
	Succeeded int64
	// PromptTokens and CompletionTokens are the tokens served: prompt
	// tokens of answered requests and completion tokens actually sent.
	PromptTokens, CompletionTokens int64
	// RateLimited is 429s from the TPM/RPM limiter.
	RateLimited int64
	// InjectedRateLimits, InjectedErrors, InjectedTimeouts and InjectedDrops
	// count the faults injected by Options.Faults.
	InjectedRateLimits, InjectedErrors, InjectedTimeouts, InjectedDrops int64
	// Canceled is answers cut short because the client went away.
	Canceled int64
}

// TokensServed is prompt plus completion tokens.
func (s Stats) TokensServed() int64 { return s.PromptTokens + s.CompletionTokens }

// FaultsInjected is the sum of all injected faults.
func (s Stats) FaultsInjected() int64 {
	return s.InjectedRateLimits + s.InjectedErrors + s.InjectedTimeouts + s.InjectedDrops
}

// counters is the live form of Stats.
type counters struct {
	requests, succeeded, promptTokens, completionTokens, rateLimited    atomic.Int64
	injectedRateLimits, injectedErrors, injectedTimeouts, injectedDrops atomic.Int64
	canceled                                                            atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Requests:           c.requests.Load(),
		Succeeded:          c.succeeded.Load(),
		PromptTokens:       c.promptTokens.Load(),
		CompletionTokens:   c.completionTokens.Load(),
		RateLimited:        c.rateLimited.Load(),
		InjectedRateLimits: c.injectedRateLimits.Load(),
		InjectedErrors:     c.injectedErrors.Load(),
		InjectedTimeouts:   c.injectedTimeouts.Load(),
		InjectedDrops:      c.injectedDrops.Load(),
		Canceled:           c.canceled.Load(),
	}
}
