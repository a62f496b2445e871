package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReservationNotTalkedDown replays issue 17's attack: a case variant of
// max_tokens that Go's case-insensitive decoding would read as the last
// member (1 token reserved) while the upstream bills the exact one (600).
// Every variant is refused with the OpenAI 400 before any reservation, so
// nothing reaches the upstream.
func TestReservationNotTalkedDown(t *testing.T) {
	up := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(up.URL, "")+`
rate_limits:
  rules: [{name: per-deployment, scope: deployment, tpm: 1000}]
`)
	url := ts.url + "/v1/chat/completions"
	attacks := []struct{ body, want string }{
		{`{"model":"chat","max_tokens":600,"MAX_TOKENS":1,"messages":[{"role":"user","content":"hi"}]}`,
			`{"error":{"message":"'MAX_TOKENS' differs from the field 'max_tokens' only by case; send 'max_tokens' exactly once","type":"invalid_request_error","param":"max_tokens","code":null}}`},
		{`{"model":"chat","max_completion_tokens":600,"max_completion_tokens":1,"messages":[]}`,
			`{"error":{"message":"'max_completion_tokens' appears more than once; send it exactly once","type":"invalid_request_error","param":"max_completion_tokens","code":null}}`},
		{`{"model":"chat","n":1,"N":8,"max_tokens":100,"messages":[]}`,
			`{"error":{"message":"'N' differs from the field 'n' only by case; send 'n' exactly once","type":"invalid_request_error","param":"n","code":null}}`},
	}
	var wg sync.WaitGroup
	for range 4 { // the four concurrent calls
		for _, a := range attacks {
			wg.Go(func() {
				status, _, body := do(t, "POST", url, a.body, "api-key", "k")
				if status != 400 || body != a.want {
					t.Errorf("%s: %d %s", a.body, status, body)
				}
			})
		}
	}
	wg.Wait()
	// Concurrent calls can leave a dialed, never-used connection that the
	// server would count as active for 5 s at shutdown.
	http.DefaultClient.CloseIdleConnections()
	up.mu.Lock()
	reached := len(up.bodies)
	up.mu.Unlock()
	if reached != 0 {
		t.Fatalf("%d ambiguous bodies reached the upstream", reached)
	}
	for _, r := range ts.records() {
		if r.Status != 400 || r.ErrorKind != "client_bad_request" || r.Attempts != 0 {
			t.Errorf("record: %+v", r)
		}
	}
}

// TestBodyReadTimeout: an authenticated client that trickles its body, a
// byte at a time, never idle for long, is answered 408 in Azure's shape
// once limits.body_read_timeout has passed, and the call is logged
// client_timeout without reaching the upstream.
func TestBodyReadTimeout(t *testing.T) {
	up := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(up.URL, "")+"limits: {body_read_timeout: 300ms}\n")
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"model":"chat","messages":[{"role":"user","content":"` + strings.Repeat("x", 200) + `"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: moat\r\napi-key: k\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("read response: %v", err)
			close(answered)
			return
		}
		answered <- resp
	}()
	var resp *http.Response
trickle:
	for i := 0; ; i++ {
		if i == len(body) {
			t.Fatal("the whole body was sent without an answer: the timeout did not fire")
		}
		select {
		case resp = <-answered:
			break trickle
		case <-time.After(20 * time.Millisecond):
			_, _ = conn.Write([]byte{body[i]}) // fails once moat has closed the connection
		}
	}
	if resp == nil {
		t.FailNow()
	}
	b, _ := io.ReadAll(resp.Body)
	want := `{"error":{"code":"408","message": "The request body was not received within 300ms. Send the whole body promptly and try again."}}`
	if resp.StatusCode != 408 || string(b) != want || resp.Header.Get("Apim-Request-Id") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, b)
	}
	recs := ts.records()
	if len(recs) != 1 || recs[0].Status != 408 || recs[0].ErrorKind != "client_timeout" || recs[0].Attempts != 0 {
		t.Fatalf("records %+v", recs)
	}
}

// TestManagementAllowedHosts: the management plane answers IP and
// localhost Host headers and the names in management.allowed_hosts, as
// currently loaded; a reload that adds a name applies at once.
func TestManagementAllowedHosts(t *testing.T) {
	ts := startServer(t, "")
	get := func(host string) int {
		req, err := http.NewRequest("GET", ts.mgmtURL+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for host, want := range map[string]int{"127.0.0.1:9090": 200, "localhost": 200, "moat-admin.internal": 403} {
		if got := get(host); got != want {
			t.Errorf("Host %s: %d, want %d", host, got, want)
		}
	}
	ts.reload("management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}], allowed_hosts: [moat-admin.internal]}\n" +
		"listeners: [{name: data, address: '127.0.0.1:0'}]\n")
	if got := get("moat-admin.internal:9090"); got != 200 {
		t.Errorf("configured name after reload: %d", got)
	}
}
