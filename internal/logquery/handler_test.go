package logquery_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/openai"
)

// testAuthorize accepts the api-key "reader" for DataAction only.
func testAuthorize(r *http.Request, dataAction string) (string, error) {
	switch {
	case r.Header.Get("api-key") == "":
		return "", httpx.New(http.StatusUnauthorized, httpx.KindClientAuth,
			openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey), nil)
	case r.Header.Get("api-key") == "broken":
		return "", errors.New("key store down at 10.0.0.7")
	case r.Header.Get("api-key") != "reader" || dataAction != logquery.DataAction:
		return "", httpx.New(http.StatusForbidden, httpx.KindPolicyForbidden,
			openai.FrontDoorErrorCompact("PermissionDenied", "denied"), nil)
	}
	return "key:reader", nil
}

func TestHandler(t *testing.T) {
	db := sqliteDB(t, seed())
	runner := &logquery.Runner{DB: db.db, Dialect: db.dialect, Now: func() time.Time { return testNow }}
	h := logquery.Handler(logquery.HandlerOptions{Authorize: testAuthorize, Query: runner.Query})

	tests := []struct {
		name        string
		method      string
		key         string
		contentType string
		body        string
		wantStatus  int
		wantBody    string // exact, when set
		wantRows    [][]any
	}{
		{name: "json body", method: "POST", key: "reader", contentType: "application/json",
			body:       `{"query": "MoatGatewayLogs | summarize n = count() by CallerId | order by CallerId asc"}`,
			wantStatus: 200, wantRows: [][]any{{"alice", 3.0}, {"bob", 3.0}}},
		{name: "text body", method: "POST", key: "reader", contentType: "text/plain",
			body: "MoatGatewayLogs | count", wantStatus: 200, wantRows: [][]any{{6.0}}},
		{name: "compile error", method: "POST", key: "reader", contentType: "text/plain",
			body: "MoatGatewayLogs | where Nope == 1", wantStatus: 400,
			wantBody: `{"error":{"code":"BadRequest","message": "line 1, col 25: unknown column \"Nope\""}}`},
		{name: "empty query", method: "POST", key: "reader", contentType: "application/json",
			body: `{"query": "  "}`, wantStatus: 400,
			wantBody: `{"error":{"code":"BadRequest","message": "The query is empty."}}`},
		{name: "bad json", method: "POST", key: "reader", contentType: "application/json; charset=utf-8",
			body: `{"query": `, wantStatus: 400},
		{name: "too large", method: "POST", key: "reader", body: strings.Repeat("x", 300<<10), wantStatus: 413},
		{name: "get", method: "GET", key: "reader", wantStatus: 405},
		{name: "no key", method: "POST", body: "MoatGatewayLogs | count", wantStatus: 401,
			wantBody: string(openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey))},
		{name: "forbidden", method: "POST", key: "writer", body: "MoatGatewayLogs | count", wantStatus: 403},
		{name: "authorizer failure says nothing", method: "POST", key: "broken", body: "MoatGatewayLogs | count",
			wantStatus: 500, wantBody: string(openai.FrontDoorError("500", openai.MsgInternalError))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/api/query", strings.NewReader(tt.body))
			if tt.key != "" {
				req.Header.Set("api-key", tt.key)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", rec.Body, tt.wantBody)
			}
			if tt.wantRows != nil {
				var got struct {
					Columns []map[string]string `json:"columns"`
					Rows    [][]any             `json:"rows"`
				}
				if err := json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantRows, got.Rows); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestQueryError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{name: "timeout", err: &logquery.TimeoutError{Timeout: 30 * time.Second}, wantStatus: 504,
			wantBody: string(openai.FrontDoorError("Timeout", (&logquery.TimeoutError{Timeout: 30 * time.Second}).Error()))},
		{name: "data", err: &logquery.DataError{Msg: `invalid input syntax for type bigint: "alice"`}, wantStatus: 400,
			wantBody: string(openai.FrontDoorError("BadRequest", `The query failed on a value: invalid input syntax for type bigint: "alice"`))},
		{name: "internal", err: errors.New("dial tcp 10.1.2.3:5432: refused"), wantStatus: 500,
			wantBody: string(openai.FrontDoorError("500", openai.MsgInternalError))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			he := logquery.QueryError(tt.err)
			if he.Status != tt.wantStatus || string(he.Body) != tt.wantBody {
				t.Errorf("QueryError = %d %s, want %d %s", he.Status, he.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// FuzzHandlerBody feeds arbitrary bodies to the handler: it must answer
// 200, 400 or 413 with JSON, never panic or fail inside.
func FuzzHandlerBody(f *testing.F) {
	f.Add("application/json", `{"query": "MoatGatewayLogs | count"}`)
	f.Add("text/plain", "MoatGatewayLogs | take 1")
	f.Add("application/json", `{"query": 5}`)
	f.Add("", "MoatGatewayLogs | where")
	db := sqliteDB(f, nil)
	runner := &logquery.Runner{DB: db.db, Dialect: db.dialect, Now: func() time.Time { return testNow }}
	h := logquery.Handler(logquery.HandlerOptions{Authorize: testAuthorize, Query: runner.Query})
	f.Fuzz(func(t *testing.T, contentType, body string) {
		req := httptest.NewRequest("POST", "/api/query", strings.NewReader(body))
		req.Header.Set("api-key", "reader")
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON answer %s", rec.Body)
		}
	})
}
