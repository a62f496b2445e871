package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// jwk is one verification key, checked and typed at fetch time.
type jwk struct {
	kid string
	alg string // empty when the JWKS does not say
	pub any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// fits reports whether the key can verify a token signed with alg.
func (k *jwk) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return alg == "ES256" && pub.Curve == elliptic.P256() || alg == "ES384" && pub.Curve == elliptic.P384()
	}
	return false
}

// keySet caches one issuer's signing keys. It refreshes when the keys are
// older than refresh, or when a token names an unknown kid (key rotation),
// but never more often than minInterval (minEmpty while it holds no keys),
// so that tokens with made-up kids cannot turn into a flood of fetches.
// After a failed refresh it keeps the old keys until maxStale, then fails
// closed.
//
// A fetch is never queued behind another: at most one is in flight, every
// caller that needs keys waits for that one, each only as long as its own
// context allows, and the fetch has a deadline of its own (fetchTimeout).
// A failed fetch is remembered until the next attempt is allowed, so that
// callers meanwhile fail at once instead of waiting for a hanging issuer.
type keySet struct {
	discovery, jwksURL string
	issuer             *compiledIssuer
	client             *http.Client
	log                *slog.Logger
	now                func() time.Time
	refresh            time.Duration
	minInterval        time.Duration
	minEmpty           time.Duration
	maxStale           time.Duration
	fetchTimeout       time.Duration

	flights flightGroup[[]jwk]

	mu      sync.RWMutex
	keys    []jwk
	fetched time.Time
	next    time.Time // no new fetch starts before this
	lastErr error     // why the last fetch failed; nil after a success
}

// lookup returns the keys that may verify a token with this kid and alg,
// refreshing the set when it is stale or does not know the kid.
func (s *keySet) lookup(ctx context.Context, kid, alg string) ([]any, error) {
	keys, fetched := s.snapshot()
	now := s.now()
	var waitErr error
	switch {
	case len(keys) == 0 || len(match(keys, kid, alg)) == 0:
		// Nothing can verify this token yet: wait for a fetch.
		waitErr = s.update(ctx, true)
		keys, fetched = s.snapshot()
	case now.Sub(fetched) >= s.refresh:
		// The cached keys still work: refresh in the background.
		_ = s.update(ctx, false)
	}
	if len(keys) == 0 || now.Sub(fetched) >= s.maxStale {
		if waitErr != nil {
			return nil, fmt.Errorf("issuer %s: %w: %w", s.issuer.name, ErrKeysUnavailable, waitErr)
		}
		return nil, fmt.Errorf("issuer %s: %w", s.issuer.name, ErrKeysUnavailable)
	}
	m := match(keys, kid, alg)
	if len(m) == 0 {
		return nil, fmt.Errorf("issuer %s: no %s key with kid %q", s.issuer.name, alg, kid)
	}
	return m, nil
}

func (s *keySet) snapshot() ([]jwk, time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys, s.fetched
}

// match picks the keys for kid (every fitting key when the token names none).
func match(keys []jwk, kid, alg string) []any {
	var out []any
	for i := range keys {
		if (kid == "" || keys[i].kid == kid) && keys[i].fits(alg) {
			out = append(out, keys[i].pub)
		}
	}
	return out
}

// update joins the fetch in flight, or starts one unless the last attempt
// was too recent (then it returns that attempt's error at once). With wait
// false it never waits; with wait true it waits for the fetch or for ctx,
// whichever ends first.
func (s *keySet) update(ctx context.Context, wait bool) error {
	s.mu.Lock()
	if now := s.now(); !s.flights.inFlight("") {
		if now.Before(s.next) {
			err := s.lastErr
			s.mu.Unlock()
			if err == nil {
				err = errors.New("signing keys were fetched too recently to fetch again")
			}
			return err
		}
		// Claim the attempt; fetchAndStore sets the real next time.
		s.next = now.Add(s.minInterval)
	}
	f := s.flights.start("", s.fetchAndStore)
	s.mu.Unlock()
	if !wait {
		return nil
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for signing keys: %w", ctx.Err())
	}
}

// fetchAndStore runs one fetch under its own deadline, detached from every
// caller: one client hanging up must not cancel the fetch that others
// wait for.
func (s *keySet) fetchAndStore() ([]jwk, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.fetchTimeout)
	defer cancel()
	fresh, err := s.fetch(ctx)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		gap := s.minInterval
		if len(s.keys) == 0 {
			gap = s.minEmpty
		}
		s.next, s.lastErr = now.Add(gap), err
		s.log.Warn("fetch signing keys", "issuer", s.issuer.name, "err", err, "cached_keys", len(s.keys), "retry_after", gap)
		return nil, err
	}
	s.keys, s.fetched, s.next, s.lastErr = fresh, now, now.Add(s.minInterval), nil
	s.log.Debug("fetched signing keys", "issuer", s.issuer.name, "keys", len(fresh))
	return fresh, nil
}

func (s *keySet) fetch(ctx context.Context) ([]jwk, error) {
	jwksURL := s.jwksURL
	if jwksURL == "" {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := s.getJSON(ctx, s.discovery, &meta); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		if !s.issuer.accepts(meta.Issuer) {
			return nil, fmt.Errorf("discovery document names issuer %q, not one this config accepts", meta.Issuer)
		}
		if err := checkFetchURL(meta.JWKSURI); err != nil {
			return nil, fmt.Errorf("discovery jwks_uri: %w", err)
		}
		jwksURL = meta.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := s.getJSON(ctx, jwksURL, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var keys []jwk
	for _, raw := range set.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			s.log.DebugContext(ctx, "skip signing key", "issuer", s.issuer.name, "err", err)
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks holds no usable signing key")
	}
	return keys, nil
}

func (s *keySet) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return nil
}

// parseJWK reads an RSA (2048 bits or more) or EC (P-256, P-384) signing key.
func parseJWK(raw json.RawMessage) (jwk, error) {
	var j struct {
		Kty, Kid, Use, Alg string
		N, E, Crv, X, Y    string
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return jwk{}, err
	}
	if j.Use != "" && j.Use != "sig" {
		return jwk{}, fmt.Errorf("kid %q: use %q", j.Kid, j.Use)
	}
	k := jwk{kid: j.Kid, alg: j.Alg}
	switch j.Kty {
	case "RSA":
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err := errors.Join(err1, err2); err != nil {
			return jwk{}, fmt.Errorf("kid %q: %w", j.Kid, err)
		}
		ee := new(big.Int).SetBytes(e)
		if len(e) > 4 || !ee.IsInt64() || ee.Int64() < 3 || ee.Int64()%2 == 0 {
			return jwk{}, fmt.Errorf("kid %q: bad RSA exponent", j.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ee.Int64())}
		if pub.N.BitLen() < 2048 {
			return jwk{}, fmt.Errorf("kid %q: RSA key of %d bits", j.Kid, pub.N.BitLen())
		}
		k.pub = pub
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return jwk{}, fmt.Errorf("kid %q: curve %q", j.Kid, j.Crv)
		}
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err := errors.Join(err1, err2); err != nil || len(x) != size || len(y) != size {
			return jwk{}, fmt.Errorf("kid %q: bad EC point", j.Kid)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwk{}, fmt.Errorf("kid %q: %w", j.Kid, err)
		}
		k.pub = pub
	default:
		return jwk{}, fmt.Errorf("kid %q: key type %q", j.Kid, j.Kty)
	}
	return k, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
