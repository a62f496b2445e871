package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// identity is the authentication and authorization part of a pipeline.
// A nil authn means authentication is disabled (development mode).
type identity struct {
	authn  *auth.Authenticator
	authz  atomic.Pointer[rbac.Authorizer]
	keys   *auth.KeyVerifier
	hasher auth.Hasher
	// rbac is the config's part of the role configuration; stored
	// assignments are added to it on every refresh.
	rbac   rbac.Config
	stored AssignmentStore
	// toRBAC turns stored assignments into RBAC ones.
	toRBAC func([]audit.RoleAssignment) ([]rbac.Assignment, error)
	// shared keeps the key cache and the last known good assignments
	// across pipelines.
	shared   *StoredIdentity
	timeout  time.Duration // per store read
	maxStale time.Duration // how old the last known good assignments may be
	log      *slog.Logger
}

// buildIdentity builds the authenticator (static keys from config, then keys
// in the store) and the role authorizer from cfg.
func buildIdentity(ctx context.Context, cfg *config.Config, store auth.KeyStore, stored AssignmentStore, toRBAC func([]audit.RoleAssignment) ([]rbac.Assignment, error), shared *StoredIdentity, log *slog.Logger, now func() time.Time) (*identity, error) {
	rc, err := cfg.Auth.RBAC()
	if err != nil {
		return nil, err
	}
	if shared == nil {
		shared = NewStoredIdentity(log, now)
	}
	id := &identity{hasher: cfg.Auth.Hasher(), rbac: rc, stored: stored, toRBAC: toRBAC, log: log,
		shared: shared, timeout: cfg.Auth.StoreTimeout.D(), maxStale: cfg.Auth.Cache.MaxStale.D()}
	if id.timeout <= 0 {
		id.timeout = auth.DefaultStoreTimeout
	}
	if id.maxStale <= 0 {
		id.maxStale = auth.DefaultKeyMaxStale
	}
	if err := id.refreshAssignments(ctx); err != nil {
		return nil, err
	}
	if cfg.Auth.Disabled {
		return id, nil
	}
	static, err := cfg.Auth.StaticKeys(id.hasher, now())
	if err != nil {
		return nil, err
	}
	mem, err := auth.NewMemKeyStore(static...)
	if err != nil {
		return nil, err
	}
	stores := []auth.KeyStore{mem}
	if store != nil {
		stores = append(stores, store)
	}
	id.keys, err = auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: stores, Hasher: id.hasher, Now: now,
		Cache: shared.keyCache(cfg), StoreTimeout: id.timeout, Logger: log.With("component", "keys")})
	if err != nil {
		return nil, err
	}
	var tokens *auth.Validator
	if issuers := cfg.Auth.TokenIssuers(); len(issuers) > 0 {
		tokens, err = auth.NewValidator(issuers, auth.ValidatorOptions{Logger: log, Now: now,
			KeyFetchTimeout: cfg.Auth.KeyFetchTimeout.D()})
		if err != nil {
			return nil, err
		}
		// Fetch signing keys now so the first call does not wait; failure is
		// not fatal (the issuer may come up later) and validation fails closed.
		go func() {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := tokens.Prefetch(pctx); err != nil {
				log.Warn("token issuer keys not available yet; token calls fail until they are", "err", err)
			}
		}()
	}
	id.authn = auth.NewAuthenticator(auth.AuthenticatorOptions{Keys: id.keys, Tokens: tokens, DisableLocalAuth: cfg.Auth.DisableLocalAuth})
	return id, nil
}

// authenticate is stage 3: who is calling. The surface is read from the path
// alone, so an unauthenticated caller learns nothing about routes.
func (p *Pipeline) authenticate(r *http.Request, s *scope) error {
	if p.id.authn == nil {
		s.authType, s.caller = "none", "anonymous"
		return nil
	}
	v1 := !strings.HasPrefix(r.URL.Path, "/openai/") || strings.HasPrefix(r.URL.Path, "/openai/v1/")
	pr, err := p.id.authenticateRequest(r, v1)
	if err != nil {
		return err
	}
	s.principal = pr
	s.authType, s.caller = pr.Type, pr.ID
	return nil
}

// authenticateRequest reads the call's credential. A client certificate
// that the listener verified (tls.client_ca_file) is the credential when
// the call carries no api-key or Authorization header; a header, when
// present, wins, so one listener can serve machines and people.
func (id *identity) authenticateRequest(r *http.Request, v1 bool) (*auth.Principal, error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && r.Header.Get("api-key") == "" && r.Header.Get("Authorization") == "" {
		return auth.CertificatePrincipal(r.TLS.VerifiedChains[0][0]), nil
	}
	return id.authn.AuthenticateRequest(r.Context(), r.Header, v1)
}

// authorize is the RBAC stage: the key's own scope, then role assignments,
// for the call's data action at the deployment's scope.
func (p *Pipeline) authorize(s *scope) error {
	if s.principal == nil {
		return nil
	}
	op := s.call.Operation
	tmpl := p.templates.of(op, s.call.Surface != SurfaceLegacy)
	if s.call.Surface == SurfaceAnthropic {
		tmpl = "POST " + s.call.PathTemplate // Azure's templates know only /openai paths
	}
	if err := s.principal.CheckKeyScope(s.call.Deployment, op, tmpl, p.now()); err != nil {
		return err
	}
	return p.id.authz.Load().Check(s.principal, op.DataAction, s.call.Deployment).Err(tmpl)
}

// opTemplates holds rbac.OperationTemplate for every operation of the
// table on both surfaces, made once at build: authorize names the
// template on every call, and building it each time allocated.
type opTemplates map[opTemplateKey]string

// opTemplateKey is everything OperationTemplate reads.
type opTemplateKey struct {
	method, suffix string
	scoped, v1     bool
}

func newOpTemplates() opTemplates {
	t := opTemplates{}
	for _, op := range openai.Operations() {
		for _, v1 := range []bool{false, true} {
			t[opTemplateKey{op.Method, op.Suffix, op.ResourceScoped, v1}] = rbac.OperationTemplate(op, v1)
		}
	}
	return t
}

// of is rbac.OperationTemplate(op, v1), from the table when it has it.
func (t opTemplates) of(op openai.Operation, v1 bool) string {
	if s, ok := t[opTemplateKey{op.Method, op.Suffix, op.ResourceScoped, v1}]; ok {
		return s
	}
	return rbac.OperationTemplate(op, v1)
}

// refreshAssignments rebuilds the authorizer from config plus the
// assignments kept in the store (made with moat roles or the admin API).
// The read has a deadline; when it fails, the last assignments read serve
// up to max_stale. Past that, a running pipeline falls back to the config's
// assignments alone (fail closed) and the error is returned; a new
// pipeline with nothing to fall back on fails to build.
func (id *identity) refreshAssignments(ctx context.Context) error {
	rc := id.rbac
	if id.stored != nil {
		list, err := id.shared.readAssignments(ctx, id.stored, id.timeout, id.maxStale)
		if err != nil {
			if id.authz.Load() == nil {
				return err
			}
			if authz, berr := rbac.New(rc); berr == nil {
				id.authz.Store(authz)
			}
			return fmt.Errorf("%w; stored role assignments dropped until the store answers", err)
		}
		extra, err := id.toRBAC(list)
		if err != nil {
			return err
		}
		rc.Assignments = append(append([]rbac.Assignment(nil), rc.Assignments...), extra...)
	}
	authz, err := rbac.New(rc)
	if err != nil {
		return err
	}
	id.authz.Store(authz)
	return nil
}

// AuthorizeManagement authenticates a management-plane call and checks the
// data action it needs (Moat/keys/write, Moat/logs/read, ...) at gateway scope.
func (p *Pipeline) AuthorizeManagement(r *http.Request, dataAction string) (string, error) {
	if p.id.authn == nil {
		return "anonymous", nil // development mode: authentication disabled
	}
	pr, err := p.id.authenticateRequest(r, true)
	if err != nil {
		return "", err
	}
	op := r.Pattern
	if op == "" {
		op = r.Method + " " + r.URL.Path
	}
	if err := p.id.authz.Load().Check(pr, dataAction, "").Err(op); err != nil {
		return "", err
	}
	return pr.DisplayID(), nil
}
