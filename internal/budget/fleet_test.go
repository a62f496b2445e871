package budget_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/proctest"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/team"
)

// TestTeamBudgetAcrossReplicas runs three `moat serve` sharing a
// PostgreSQL store and a redis-server of the test's own, with a team
// budget of 2300 (a price of 1 per token makes each call cost its tokens,
// 23), and calls them round robin from many workers until the budget has
// refused calls for a while. The team's spend in the request log, and the
// successful calls as the client counted them, never exceed the budget,
// and the budget is nearly used up (the limiter's accuracy test, applied
// to a budget).
func TestTeamBudgetAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes; skipped with -short")
	}
	const (
		pepper   = "budget-fleet-pepper-0123456789abcdef"
		budget   = 2300
		callCost = 23 // 8 prompt tokens + max_tokens 15, which the simulator fills, at 1 per token
		body     = `{"messages":[{"role":"user","content":"count"}],"max_tokens":15}`
	)
	dsn := proctest.PostgresDSN(t)
	redis := proctest.StartRedis(t)
	ctx := context.Background()
	st, err := pgstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutTeam(ctx, team.Team{Name: "search", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	plaintext, m, err := auth.NewHasher([]byte(pepper)).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, &auth.Key{ID: m.ID, Hash: m.Hash, Name: "ranker", Team: "search", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	var data []string
	var procs []*proctest.Process
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 3 {
		addr, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
		cfg := fmt.Sprintf(`data_dir: %s
listeners: [{name: data, address: '%s'}]
management: {listeners: [{name: mgmt, address: '%s', kind: private_endpoint}]}
simulator: {time_to_first_token: 1ms, tokens_per_second: 0}
auth: {pepper: %s}
log: {store: postgres, postgres_dsn: '%s', format: json, flush_interval: 100ms}
replica: {name: moat-%d}
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: gpt-4o-mini, upstreams: [{upstream: sim}]}
shutdown: {grace_period: 5s, pre_stop: 0s}
rate_limits:
  redis: {address: '%s'}
cost:
  prices: [{deployment: gpt-4o-mini, input: 1000000, output: 1000000}]
budgets:
  rules: [{name: team-day, scope: team, period: day, amount: %d}]
`, t.TempDir(), addr, mgmt, pepper, dsn, i, redis.Addr, budget)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := proctest.StartMoatNoWait(t, proctest.MoatConfig{YAML: cfg, Mgmt: mgmt})
			if err := p.WaitReady(90 * time.Second); err != nil {
				t.Errorf("moat %d not ready: %v\n%s", i, err, p.Logs())
			}
			mu.Lock()
			data, procs = append(data, "http://"+addr), append(procs, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	client := &http.Client{Timeout: 30 * time.Second}
	var ok, denied, other int
	var lastOther string
	deadline := time.Now().Add(60 * time.Second)
	var lw sync.WaitGroup
	for w := range 12 {
		lw.Add(1)
		go func() {
			defer lw.Done()
			for n := w; time.Now().Before(deadline); n += 12 {
				mu.Lock()
				done := denied >= 120
				mu.Unlock()
				if done {
					return
				}
				req, _ := http.NewRequest("POST", data[n%len(data)]+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("api-key", plaintext)
				resp, err := client.Do(req)
				status := 0
				var b []byte
				if err == nil {
					b, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				switch status {
				case 200:
					ok++
				case 403:
					denied++
					if !strings.Contains(string(b), "Out of call volume quota") {
						lastOther = string(b)
						other++
					}
				default:
					other++
					lastOther = fmt.Sprintf("%d %v %s", status, err, b)
				}
				mu.Unlock()
			}
		}()
	}
	lw.Wait()
	for _, p := range procs {
		p.Signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		if exited, err := p.WaitTimeout(30 * time.Second); !exited {
			t.Errorf("moat %d did not stop: %v", i, err)
		}
	}
	t.Logf("ok %d, denied %d, other %d", ok, denied, other)
	if other > 0 {
		t.Errorf("%d calls neither admitted nor refused by the budget; last: %s", other, lastOther)
	}
	if denied < 120 {
		t.Errorf("the budget refused only %d calls in a minute", denied)
	}
	if ok*callCost > budget {
		t.Errorf("%d calls admitted: %d spent of a budget of %d", ok, ok*callCost, budget)
	}
	if ok*callCost < budget*8/10 {
		t.Errorf("%d calls admitted: the budget of %d was barely used", ok, budget)
	}
	var spent float64
	var rows int
	if err := st.Pool().QueryRow(ctx, `SELECT coalesce(sum(cost), 0), count(*) FROM request_log WHERE team = 'search' AND status = 200`).Scan(&spent, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != ok || spent > budget {
		t.Errorf("request log: %d calls costing %v; the client saw %d; budget %d", rows, spent, ok, budget)
	}
}
