package budget

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/ratelimit"
)

func TestWebhook(t *testing.T) {
	got := make(chan payload, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Error(err)
		}
		got <- p
	}))
	defer srv.Close()
	errs := make(chan error, 1)
	h := NewWebhook(srv.URL, time.Second, func(err error) { errs <- err })
	h.Post(Warning{Budget: "b", Scope: ScopeTeam, Instance: "search", Unit: UnitCost, Used: 80, Limit: 100, Period: ratelimit.PeriodMonth}, "USD", time.Now())
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.Budget != "b" || p.Instance != "search" || p.Ratio != 0.8 || p.Currency != "USD" || p.Event != "budget.warning" {
		t.Errorf("payload %+v", p)
	}
	// An address outside the network is refused at dial time.
	out := NewWebhook("http://192.0.2.1:9/", 200*time.Millisecond, func(err error) { errs <- err })
	out.Post(Warning{Budget: "b"}, "", time.Now())
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "outside the network") {
		t.Errorf("outside address: %v", err)
	}
}
