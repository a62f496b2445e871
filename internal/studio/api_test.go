package studio

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/rbac"
)

func TestDenialsBecome403(t *testing.T) {
	denied := rbac.DeniedError("alice", "Moat/keys/read", "GET /admin/keys")
	badKey := httpx.FrontDoor(http.StatusUnauthorized, httpx.KindClientAuth, "401", "invalid subscription key", nil)
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   int
	}{
		{name: "permission denied", answer: func(w http.ResponseWriter) { writeErr(w, denied) }, want: http.StatusForbidden},
		{name: "credential refused", answer: func(w http.ResponseWriter) { writeErr(w, badKey) }, want: http.StatusUnauthorized},
		{name: "success", answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) }, want: http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			dw := &denialWriter{ResponseWriter: rec}
			tt.answer(dw)
			dw.finish()
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if tt.want != http.StatusCreated {
				if b, _ := io.ReadAll(rec.Body); len(b) == 0 {
					t.Error("the body was lost")
				}
			}
		})
	}
	if he := forbidden(denied).(*httpx.Error); he.Status != http.StatusForbidden || denied.Status != http.StatusUnauthorized {
		t.Errorf("forbidden: %d (original %d)", he.Status, denied.Status)
	}
	if he := forbidden(badKey).(*httpx.Error); he.Status != http.StatusUnauthorized {
		t.Errorf("a refused credential became %d", he.Status)
	}
}
