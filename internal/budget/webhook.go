package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Webhook posts budget warnings to an address inside the network. Its
// dialer refuses any address that is not private, loopback or link-local,
// whatever the URL's host name resolves to, so a warning cannot be sent
// outside. Posts are asynchronous and bounded by a timeout; the body holds
// names and amounts only.
type Webhook struct {
	url     string
	timeout time.Duration
	client  *http.Client
	done    func(err error)
}

// NewWebhook returns a poster for url; done (may be nil) learns each
// post's outcome, for a metric and a log line.
func NewWebhook(url string, timeout time.Duration, done func(error)) *Webhook {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	d := &net.Dialer{Timeout: timeout, Control: insideOnly}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil, MaxIdleConns: 1, IdleConnTimeout: 30 * time.Second}
	if done == nil {
		done = func(error) {}
	}
	return &Webhook{url: url, timeout: timeout, done: done,
		client: &http.Client{Transport: tr, Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// insideOnly refuses connections to addresses outside the network.
func insideOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	a = a.Unmap()
	if !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()) {
		return fmt.Errorf("budget webhook: %s is outside the network", a)
	}
	return nil
}

// payload is the JSON body of a warning.
type payload struct {
	Event       string    `json:"event"`
	Budget      string    `json:"budget"`
	Scope       string    `json:"scope"`
	Instance    string    `json:"instance"`
	Unit        string    `json:"unit"`
	Used        float64   `json:"used"`
	Limit       float64   `json:"limit"`
	Ratio       float64   `json:"ratio"`
	Period      string    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	Currency    string    `json:"currency,omitempty"`
	Time        time.Time `json:"time"`
}

// Post sends w in the background.
func (h *Webhook) Post(w Warning, currency string, now time.Time) {
	if h == nil {
		return
	}
	p := payload{Event: "budget.warning", Budget: w.Budget, Scope: w.Scope, Instance: w.Instance, Unit: w.Unit,
		Used: w.Used, Limit: w.Limit, Period: string(w.Period), PeriodStart: w.PeriodStart, Time: now.UTC()}
	if w.Limit > 0 {
		p.Ratio = w.Used / w.Limit
	}
	if w.Unit == UnitCost {
		p.Currency = currency
	}
	body, _ := json.Marshal(p) // plain fields: never fails
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
		if err != nil {
			h.done(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.client.Do(req)
		if err != nil {
			h.done(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			h.done(fmt.Errorf("budget webhook: status %d", resp.StatusCode))
			return
		}
		h.done(nil)
	}()
}
