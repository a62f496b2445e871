package keyoutage

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/auth"
)

// procCPU returns the CPU time (user+system) the process pid has used.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// TestCPUPerCallRotatingKeys measures moat's CPU per call with one stored
// key against 10,000 stored keys in rotation (each key back every few
// seconds, past the 1 s TTL that used to make each such call a database
// lookup). It fails only if calls fail; the figures are logged for
// docs/benchmarks.md.
func TestCPUPerCallRotatingKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	c := startCluster(t, 1)
	const n = 10000
	h := auth.NewHasher(nil) // the config sets no pepper
	plains := make([]string, n)
	rows := make([][]any, n)
	for i := range n {
		p, k, err := h.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		plains[i], rows[i] = p, []any{k.ID, fmt.Sprintf("rot-%d", i), k.Hash, time.Now().UTC()}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"api_keys"}, []string{"id", "name", "hash", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	base, pid := c.data[0], c.procs[0].Pid()
	run := func(keys []string, d time.Duration) (calls int, failed int) {
		var mu sync.Mutex
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; time.Now().Before(end); i += 4 {
					st, _, err := call(base, keys[i%len(keys)])
					mu.Lock()
					calls++
					if err != nil || st != http.StatusOK {
						failed++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return calls, failed
	}
	run(plains, 8*time.Second) // warm: most keys seen once
	for _, tc := range []struct {
		name string
		keys []string
	}{{"1 key", plains[:1]}, {"10000 keys", plains}, {"1 key again", plains[:1]}} {
		cpu0 := procCPU(t, pid)
		calls, failed := run(tc.keys, 10*time.Second)
		cpu := procCPU(t, pid) - cpu0
		t.Logf("%s: %d calls, %d failed, moat CPU %s, %.1f µs CPU per call", tc.name, calls, failed,
			cpu, float64(cpu.Microseconds())/float64(max(calls, 1)))
		if failed != 0 {
			t.Errorf("%s: %d of %d calls failed", tc.name, failed, calls)
		}
	}
}
