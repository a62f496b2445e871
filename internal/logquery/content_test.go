package logquery_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/logquery"
)

// TestHandlerContent: content is readable only when Content allows it and
// the read is audited first; a failed audit withholds the rows.
func TestHandlerContent(t *testing.T) {
	db := sqliteDB(t, seed())
	runner := &logquery.Runner{DB: db.db, Dialect: db.dialect, Now: func() time.Time { return testNow }}
	tests := []struct {
		name     string
		content  bool
		auditErr error
		noAudit  bool
		query    string
		status   int
		audited  int
	}{
		{name: "without the permission", query: "MoatGatewayLogs | project RequestMessages", status: 400},
		{name: "with it", content: true, query: "MoatGatewayLogs | project RequestMessages", status: 200, audited: 1},
		{name: "with it, no content read", content: true, query: "MoatGatewayLogs | count", status: 200},
		{name: "audit fails", content: true, auditErr: errors.New("store down"), query: "MoatGatewayLogs | take 1", status: 500, audited: 1},
		{name: "no audit hook", content: true, noAudit: true, query: "MoatGatewayLogs | project RequestMessages", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audited := 0
			o := logquery.HandlerOptions{Authorize: testAuthorize, Query: runner.Query,
				Content: func(*http.Request) bool { return tt.content },
				AuditContent: func(_ *http.Request, actor, query string, rows int) error {
					audited++
					if actor != "key:reader" || query != tt.query {
						t.Errorf("audit of %q by %q", query, actor)
					}
					return tt.auditErr
				}}
			if tt.noAudit {
				o.AuditContent = nil
			}
			req := httptest.NewRequest("POST", "/api/query", strings.NewReader(tt.query))
			req.Header.Set("api-key", "reader")
			w := httptest.NewRecorder()
			logquery.Handler(o).ServeHTTP(w, req)
			if w.Code != tt.status || audited != tt.audited {
				t.Fatalf("status %d, %d audits; want %d, %d: %s", w.Code, audited, tt.status, tt.audited, w.Body)
			}
			if tt.status == 500 && strings.Contains(w.Body.String(), "rows") {
				t.Errorf("rows sent without an audit: %s", w.Body)
			}
		})
	}
}
