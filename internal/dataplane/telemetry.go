package dataplane

import (
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/telemetry"
)

// telemetryCall describes a finished call for export: the request-log
// record's numbers plus what only the scope knows (the upstream's provider
// and address). Nothing from the request's headers or body is copied.
func telemetryCall(r *http.Request, s *scope, rec *reqlog.Record, end time.Time) telemetry.Call {
	c := telemetry.Call{
		Start: s.start, End: end, FirstByte: s.firstByte, FirstToken: s.firstToken,
		RequestID: s.id, Method: r.Method, Operation: s.call.Operation.Name,
		Deployment: rec.Deployment, Model: rec.Model, Upstream: rec.Upstream,
		Status: rec.Status, UpstreamStatus: rec.UpstreamStatus, ErrorKind: rec.ErrorKind,
		InputTokens: rec.PromptTokens, OutputTokens: rec.CompletionTokens,
		HasUsage: s.usageSeen || rec.TokensEstimated, TokensEstimated: rec.TokensEstimated,
		Streamed: rec.Streamed, Caller: rec.Caller, Attempts: rec.Attempts,
	}
	switch {
	case s.member.target != nil:
		c.Provider = s.member.target.Provider()
		c.ServerAddress, c.ServerPort = s.member.target.Server()
	case s.deployment != nil:
		c.Provider = s.deployment.provider
	}
	return c
}
