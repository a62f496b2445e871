package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/openai"
)

// Bounds on key requests. They keep rows small and messages readable.
const (
	maxNameLen        = 128
	maxOwnerLen       = 256
	maxDescriptionLen = 1024
	maxListLen        = 100
	maxLimit          = 1_000_000_000
	// MaxRevokeGrace bounds regenerate's revoke_old_after: long enough to
	// roll a fleet, short enough that a forgotten old key dies soon.
	MaxRevokeGrace = 7 * 24 * time.Hour
)

// Limits are a key's own rate limits; zero means none.
type Limits struct {
	TPM int `json:"tpm"`
	RPM int `json:"rpm"`
}

// KeyRequest describes a key to create.
type KeyRequest struct {
	// Name labels the key (required).
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// Team owns the key's calls (cost, budgets, chargeback); it must
	// exist. Empty means none.
	Team        string `json:"team"`
	Description string `json:"description"`
	// Deployments the key may call: names or '*' globs; empty means all.
	Deployments []string `json:"deployments"`
	// Operations the key may call (openai.Operations short names: chat,
	// embeddings, ...); empty means all.
	Operations []string `json:"operations"`
	// ExpiresAt is when the key stops working; nil means never.
	ExpiresAt *time.Time `json:"expires_at"`
	Limits    Limits     `json:"limits"`
}

// RegenerateRequest tunes a key rotation.
type RegenerateRequest struct {
	// RevokeOldAfter is how many seconds the old key keeps working, so
	// that clients can switch without a failed call; 0 revokes it now.
	RevokeOldAfter int64 `json:"revoke_old_after"`
	// ExpiresAt overrides the new key's expiry; nil gives it the old key's
	// lifetime (if it had one) counted from now.
	ExpiresAt *time.Time `json:"expires_at"`
}

// NewKey is a freshly created key: its plaintext, returned once, and the
// stored key (hash only).
type NewKey struct {
	Plaintext string
	Key       *auth.Key
}

// CreateKey generates a moat_<id>_<secret> key with the requested scope,
// stores its hash and audits the creation.
func (s *Service) CreateKey(ctx context.Context, c Caller, req KeyRequest) (*NewKey, error) {
	now := s.now()
	if err := req.normalize(now); err != nil {
		return nil, err
	}
	if err := s.teamExists(ctx, req.Team); err != nil {
		return nil, err
	}
	k := &auth.Key{
		Name: req.Name, Owner: req.Owner, Team: req.Team, Description: req.Description,
		Deployments: req.Deployments, Operations: req.Operations,
		CreatedAt: now.UTC(), Limits: auth.KeyLimits{TPM: req.Limits.TPM, RPM: req.Limits.RPM},
	}
	if req.ExpiresAt != nil {
		k.ExpiresAt = req.ExpiresAt.UTC()
	}
	plaintext, err := s.store(ctx, k)
	if err != nil {
		return nil, err
	}
	details := keyDetails(k)
	if err := s.record(ctx, c, audit.ActionKeyCreate, k.ID, details, now); err != nil {
		s.undoKey(ctx, k.ID, now)
		return nil, err
	}
	s.invalidate(k.ID)
	s.log.InfoContext(ctx, "api key created", "key_id", k.ID, "name", k.Name, "actor", c.Actor, "client_ip", c.ClientIP)
	return &NewKey{Plaintext: plaintext, Key: k}, nil
}

// store generates the secret for k, fills its ID and hash, and stores it.
// A fresh ID that already exists (2^-48 odds) is drawn again, because Put
// would replace the existing key.
func (s *Service) store(ctx context.Context, k *auth.Key) (plaintext string, err error) {
	for range 3 {
		p, m, err := s.hasher.GenerateKey()
		if err != nil {
			return "", err
		}
		_, err = s.keys.Get(ctx, m.ID)
		if err == nil {
			continue
		}
		if !errors.Is(err, auth.ErrKeyNotFound) {
			return "", fmt.Errorf("create key: %w", err)
		}
		k.ID, k.Hash = m.ID, m.Hash
		if err := s.keys.Put(ctx, k); err != nil {
			return "", fmt.Errorf("create key: %w", err)
		}
		return p, nil
	}
	return "", errors.New("create key: no free key ID after 3 draws")
}

// undoKey revokes a key whose creation could not be audited: a change that
// is not in the audit log must not stay in effect.
func (s *Service) undoKey(ctx context.Context, id string, now time.Time) {
	if err := s.keys.Revoke(context.WithoutCancel(ctx), id, now); err != nil {
		s.log.ErrorContext(ctx, "revoke unaudited key", "key_id", id, "err", err)
	}
	s.invalidate(id)
}

// ListKeys returns every stored key (hashes included: callers show
// metadata only, see ViewKey).
func (s *Service) ListKeys(ctx context.Context) ([]*auth.Key, error) {
	ks, err := s.keys.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return ks, nil
}

// GetKey returns the key with this ID.
func (s *Service) GetKey(ctx context.Context, id string) (*auth.Key, error) {
	k, err := s.keys.Get(ctx, id)
	if errors.Is(err, auth.ErrKeyNotFound) {
		return nil, notFound(err, "key %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get key: %w", err)
	}
	return k, nil
}

// RevokeKey revokes the key now (or keeps an earlier revocation time) and
// drops it from this replica's cache.
func (s *Service) RevokeKey(ctx context.Context, c Caller, id string) (*auth.Key, error) {
	if _, err := s.GetKey(ctx, id); err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.keys.Revoke(ctx, id, now); err != nil {
		return nil, fmt.Errorf("revoke key %s: %w", id, err)
	}
	s.invalidate(id)
	k, err := s.GetKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, c, audit.ActionKeyRevoke, id, map[string]any{"revoked_at": k.RevokedAt}, now); err != nil {
		// The revocation stands: un-revoking a key is never the safe side.
		return nil, err
	}
	s.log.InfoContext(ctx, "api key revoked", "key_id", id, "actor", c.Actor, "client_ip", c.ClientIP)
	return k, nil
}

// Regenerated is the outcome of a rotation.
type Regenerated struct {
	// New is the replacement key, with its plaintext.
	New *NewKey
	// Old is the replaced key, revoked now or at the end of the grace period.
	Old *auth.Key
}

// RegenerateKey rotates a key: it creates a key with a new ID and secret
// and the old key's scope (name, owner, description, deployments,
// operations, limits), then revokes the old key after req.RevokeOldAfter
// seconds. With a grace period both keys work until it ends, so clients
// can switch without a single failed call. A revoked key cannot be
// regenerated; create a new key instead.
func (s *Service) RegenerateKey(ctx context.Context, c Caller, id string, req RegenerateRequest) (*Regenerated, error) {
	now := s.now()
	grace := time.Duration(req.RevokeOldAfter) * time.Second
	if req.RevokeOldAfter < 0 || grace > MaxRevokeGrace {
		return nil, badRequest("revoke_old_after: want 0 to %d seconds", int64(MaxRevokeGrace/time.Second))
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
		return nil, badRequest("expires_at: %s is not in the future", req.ExpiresAt.UTC().Format(time.RFC3339))
	}
	old, err := s.GetKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if !old.RevokedAt.IsZero() && !now.Before(old.RevokedAt) {
		return nil, conflict("KeyRevoked", "key %q is revoked; create a new key instead", id)
	}
	k := &auth.Key{
		Name: old.Name, Owner: old.Owner, Team: old.Team, Description: old.Description,
		Deployments: old.Deployments, Operations: old.Operations, Limits: old.Limits, CreatedAt: now.UTC(),
	}
	switch {
	case req.ExpiresAt != nil:
		k.ExpiresAt = req.ExpiresAt.UTC()
	case !old.ExpiresAt.IsZero() && old.ExpiresAt.After(old.CreatedAt):
		k.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt)).UTC()
	}
	plaintext, err := s.store(ctx, k)
	if err != nil {
		return nil, err
	}
	revokeAt := now.Add(grace).UTC()
	if !old.RevokedAt.IsZero() && old.RevokedAt.Before(revokeAt) {
		revokeAt = old.RevokedAt // a pending revocation is never postponed
	}
	details := keyDetails(k)
	details["new_key_id"] = k.ID
	details["old_key_revoked_at"] = revokeAt
	if err := s.record(ctx, c, audit.ActionKeyRegenerate, id, details, now); err != nil {
		s.undoKey(ctx, k.ID, now)
		return nil, err
	}
	if err := s.keys.Revoke(ctx, id, revokeAt); err != nil {
		return nil, fmt.Errorf("regenerate key %s: revoke the old key: %w", id, err)
	}
	s.invalidate(id)
	s.invalidate(k.ID)
	old.RevokedAt = revokeAt
	s.log.InfoContext(ctx, "api key regenerated", "key_id", id, "new_key_id", k.ID,
		"old_key_revoked_at", revokeAt, "actor", c.Actor, "client_ip", c.ClientIP)
	return &Regenerated{New: &NewKey{Plaintext: plaintext, Key: k}, Old: old}, nil
}

// keyDetails is what the audit log records about a key: its scope, never
// its hash or secret.
func keyDetails(k *auth.Key) map[string]any {
	d := map[string]any{
		"name": k.Name, "owner": k.Owner, "team": k.Team, "deployments": nonNil(k.Deployments), "operations": nonNil(k.Operations),
		"limits": Limits{TPM: k.Limits.TPM, RPM: k.Limits.RPM},
	}
	if !k.ExpiresAt.IsZero() {
		d["expires_at"] = k.ExpiresAt
	}
	return d
}

// record appends an audit entry for a mutation.
func (s *Service) record(ctx context.Context, c Caller, action, target string, details map[string]any, now time.Time) error {
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	actor := c.Actor
	if actor == "" {
		actor = "unknown"
	}
	_, err = s.audit.AppendAudit(context.WithoutCancel(ctx), audit.Record{
		Time: now, Actor: actor, Action: action, Target: target, Details: b, ClientIP: c.ClientIP,
	})
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", action, target, err)
	}
	return nil
}

// normalize validates the request and canonicalizes its lists (operation
// names as in openai.Operations, duplicates removed). It reports every
// problem at once.
func (req *KeyRequest) normalize(now time.Time) error {
	var v invalid
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "":
		v.add("name is required")
	case len(req.Name) > maxNameLen || !printable(req.Name):
		v.add("name: want up to %d printable characters", maxNameLen)
	}
	if len(req.Owner) > maxOwnerLen || !printable(req.Owner) {
		v.add("owner: want up to %d printable characters", maxOwnerLen)
	}
	if len(req.Description) > maxDescriptionLen || !printable(req.Description) {
		v.add("description: want up to %d printable characters", maxDescriptionLen)
	}
	if len(req.Deployments) > maxListLen {
		v.add("deployments: at most %d entries", maxListLen)
	}
	var deps []string
	for _, d := range req.Deployments {
		d = strings.TrimSpace(d)
		if d == "" || len(d) > maxNameLen || strings.ContainsAny(d, "/?#") || !printable(d) || strings.ContainsFunc(d, unicode.IsSpace) {
			v.add("deployments: %q is not a deployment name or '*' glob", d)
			continue
		}
		deps = appendNew(deps, d)
	}
	req.Deployments = deps
	var ops []string
	for _, o := range req.Operations {
		op, ok := lookupOperation(o)
		if !ok {
			v.add("operations: unknown operation %q (want %s)", o, strings.Join(operationNames(), ", "))
			continue
		}
		ops = appendNew(ops, op)
	}
	req.Operations = ops
	if req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
		v.add("expires_at: %s is not in the future", req.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if req.Limits.TPM < 0 || req.Limits.TPM > maxLimit || req.Limits.RPM < 0 || req.Limits.RPM > maxLimit {
		v.add("limits: tpm and rpm must be 0 (no limit) to %d", maxLimit)
	}
	return v.err()
}

func lookupOperation(name string) (string, bool) {
	for _, op := range openai.Operations() {
		if strings.EqualFold(strings.TrimSpace(name), op.Name) {
			return op.Name, true
		}
	}
	return "", false
}

func operationNames() []string {
	var names []string
	for _, op := range openai.Operations() {
		names = append(names, op.Name)
	}
	return names
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func appendNew(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
