package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// hangingIssuer is an OIDC issuer whose every request hangs until the test
// ends, counting the requests it received and those still open.
type hangingIssuer struct {
	srv       *httptest.Server
	requests  atomic.Int32
	open      atomic.Int32
	maxOpen   atomic.Int32
	release   chan struct{}
	closeOnce sync.Once
}

func newHangingIssuer(t *testing.T) *hangingIssuer {
	h := &hangingIssuer{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		n := h.open.Add(1)
		defer h.open.Add(-1)
		for {
			m := h.maxOpen.Load()
			if n <= m || h.maxOpen.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		h.closeOnce.Do(func() { close(h.release) })
		h.srv.Close()
	})
	return h
}

// TestHangingIssuerNoConvoy is the regression test for the token
// validation convoy: with an issuer that hangs and no keys cached, 50
// concurrent token calls each return when their own context ends (not
// behind one another's fetches), the issuer sees one fetch at a time, and
// no goroutine stays parked once the fetch's own deadline has passed.
func TestHangingIssuerNoConvoy(t *testing.T) {
	k1 := rsaKeys()[0]
	idp := newHangingIssuer(t)
	v, err := NewValidator([]Issuer{{TenantID: testTenant, DiscoveryURL: idp.srv.URL + "/.well-known/openid-configuration"}},
		ValidatorOptions{KeyFetchTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	token := sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(time.Now()))
	baseline := runtime.NumGoroutine()

	const callers = 50
	var wg sync.WaitGroup
	errs := make([]error, callers)
	ctxErrs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			// Callers give up at different times, all before the fetch's
			// own deadline; each must leave on its own.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+i)*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, errs[i] = v.Validate(ctx, token)
			ctxErrs[i] = ctx.Err()
			if d := time.Since(start); d > 2*time.Second {
				t.Logf("caller %d waited %s", i, d) // reported, not asserted
			}
		})
	}
	wg.Wait()
	for i := range callers {
		wantTokenRejected(t, errs[i], token)
		if !errors.Is(errs[i], ErrKeysUnavailable) || !errors.Is(errs[i], context.DeadlineExceeded) {
			t.Errorf("caller %d: %v, want ErrKeysUnavailable after its own deadline", i, errs[i])
		}
		if ctxErrs[i] == nil {
			t.Errorf("caller %d returned before its context ended without an answer", i)
		}
	}
	if n := idp.maxOpen.Load(); n != 1 {
		t.Errorf("issuer saw %d fetches at once, want 1", n)
	}

	// After the fetch's own deadline, the failure is remembered: a new
	// caller fails at once, without a new fetch and without waiting.
	waitFor(t, func() bool { return !v.issuers[0].keys.flights.inFlight("") })
	before := idp.requests.Load()
	_, err = v.Validate(context.Background(), token)
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("after the failed fetch: %v, want ErrKeysUnavailable", err)
	}
	if n := idp.requests.Load() - before; n != 0 {
		t.Errorf("a caller within the retry interval caused %d fetches", n)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= baseline+2 })
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("condition not met in 10s; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
