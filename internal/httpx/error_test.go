package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteKeepsCauseOutOfBody(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
		wantKind   Kind
	}{
		{
			name:       "typed error",
			err:        New(404, KindClientNotFound, []byte(`{"x":1}`), errors.New("dial 10.0.0.7:443 secret-host")),
			wantStatus: 404, wantBody: `{"x":1}`, wantKind: KindClientNotFound,
		},
		{
			name:       "wrapped typed error",
			err:        errors.Join(errors.New("ctx"), New(429, KindPolicyRateLimit, []byte(`{}`), nil)),
			wantStatus: 429, wantBody: `{}`, wantKind: KindPolicyRateLimit,
		},
		{
			name:       "untyped error becomes internal",
			err:        errors.New("open /var/lib/moat/secret.db: permission denied"),
			wantStatus: 500, wantBody: `{"fallback":true}`, wantKind: KindGatewayInternal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			he := As(tt.err, []byte(`{"fallback":true}`))
			rec := httptest.NewRecorder()
			Write(rec, he)
			if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody || he.Kind != tt.wantKind {
				t.Fatalf("got %d %q %s", rec.Code, rec.Body.String(), he.Kind)
			}
			if strings.Contains(rec.Body.String(), "secret") {
				t.Fatal("cause leaked into body")
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("content-type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}

func TestWithHeader(t *testing.T) {
	e := New(http.StatusForbidden, KindPolicyNetwork, nil, nil).WithHeader("policy-id", "X")
	rec := httptest.NewRecorder()
	Write(rec, e)
	if rec.Header().Get("Policy-Id") != "X" {
		t.Fatal("header not written")
	}
}
