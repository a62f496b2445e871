// Package reqlog is the request log: one Record per call, written
// asynchronously in batches by a Writer to a Store. Stores (SQLite,
// PostgreSQL) implement the Store interface declared here.
package reqlog

import (
	"context"
	"time"
)

// Record is one call through the gateway. Column names in stores and in the
// KQL table follow the Go field names mapped in Columns, which stay close to
// Azure's ApiManagementGatewayLogs / ApiManagementGatewayLlmLog.
type Record struct {
	ID               int64     // assigned by the store
	Time             time.Time // when the request arrived (UTC)
	RequestID        string
	Caller           string // key ID, principal object ID or "anonymous"; never a secret
	AuthType         string // "key", "entra", "none"
	ClientIP         string
	Listener         string
	Deployment       string
	Model            string
	Upstream         string // upstream name from config
	Operation        string // Azure operation ID, e.g. ChatCompletions_Create
	APIVersion       string
	Method           string
	Path             string // path only, no query string
	Status           int
	UpstreamStatus   int
	ErrorKind        string
	ErrorMessage     string // internal detail for operators; never secrets
	TotalMs          float64
	UpstreamMs       float64
	FirstByteMs      float64
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
	TokensEstimated  bool // counted offline because upstream sent no usage
	Streamed         bool
	RequestBytes     int64
	ResponseBytes    int64
	Region           string
	Attempts         int
	RequestBody      string // only when body logging is enabled
	ResponseBody     string // only when body logging is enabled
	Replica          string // replica.name of the moat process that served the call
	// FirstTokenMs is from arrival to the first event that carried
	// generated content (text, tool-call arguments), the time to first
	// token; for an answer that is not streamed, its first byte.
	FirstTokenMs float64
	// Guardrail lists the guardrail rules that matched the call, as
	// "direction:action:rule" items joined by commas, sorted
	// ("completion:flag:email,prompt:block:card"); empty when none did.
	Guardrail string
	// KeyName and Owner are the calling key's name and owner, from the
	// key cache; empty for token callers.
	KeyName string
	Owner   string
	// Team owns the call: the key's team, or the token principal's
	// through its group, app or object ID (package team).
	Team string
	// Cost is what the call cost at the price table's list prices, in
	// its currency (package cost); 0 for provisioned deployments.
	Cost float64
	// PriceVersion names the price table (with any config overrides)
	// that priced the call, e.g. "2026-12-01+config"; empty when unpriced.
	PriceVersion string
	// Headers holds an allow-listed few of the call's request and
	// response headers as a JSON object, {"req":{...},"resp":{...}}, names
	// in lower case, each value cut to MaxHeaderValueBytes; empty when
	// none were present. Credentials (api-key, authorization, x-api-key,
	// cookies) are never on the list: AuthType says how the caller
	// authenticated.
	Headers string
}

// BodyBlanker is a Store that can erase logged bodies ahead of the rows
// themselves, for log.body_retention. moat's stores implement it.
type BodyBlanker interface {
	// BlankBodies empties RequestBody and ResponseBody of the records with
	// from <= Time < to, in transactions small enough not to stall the log
	// writer, and returns how many records it changed.
	BlankBodies(ctx context.Context, from, to time.Time) (int64, error)
}

// Store persists records. Implementations must be safe for concurrent use.
type Store interface {
	// WriteBatch appends records in one transaction.
	WriteBatch(ctx context.Context, recs []Record) error
	// After returns up to limit records with ID > afterID in ID order; with
	// afterID < 0 it returns the newest limit records, oldest first.
	After(ctx context.Context, afterID int64, limit int) ([]Record, error)
	// DeleteBefore removes records older than t, for retention.
	DeleteBefore(ctx context.Context, t time.Time) (int64, error)
	Close() error
}

// RollupFlusher is a Store that adds its newest records to its rollup
// (RollupTable) a stretch of batches at a time rather than in each batch's
// transaction. FlushRollup adds every record written before it, so that a
// query of the rollup that follows counts them all.
type RollupFlusher interface {
	FlushRollup(ctx context.Context) error
}
