package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandle(t *testing.T) {
	mux := http.NewServeMux()
	Handle(mux, "/studio")
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/studio/chart.js", 200},
		{"/studio/webui.go", 404},
		{"/dashboard/chart.js", 404},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s: %d, want %d", c.path, rec.Code, c.status)
		}
		if c.status == 200 && (!strings.Contains(rec.Header().Get("Content-Type"), "javascript") || !strings.Contains(rec.Body.String(), "svg")) {
			t.Errorf("%s: %s %.80q", c.path, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
}
