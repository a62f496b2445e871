package dataplane

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/upstream"
)

// Listing files and batches (GET files, GET batches). Each object lives on
// the pool member that stored it, so a list is every member's list merged:
// moat asks each distinct upstream that serves the collection (members of
// the configured deployments whose protocol serves it), at most
// listConcurrency at a time and each within listMemberTimeout, following
// its own has_more up to listMaxPages pages; then it orders the union
// newest first by created_at and applies the client's after and limit.
// purpose (files) goes to every member as the client sent it.
//
// If any member fails, the client gets an error, not the others' objects:
// a silently partial list would look like objects were lost. An upstream
// 4xx (other than 429) is the client's own mistake, relayed as the
// upstream answered it; a transport failure, 429 or 5xx answers 502, a
// timeout 504 (docs/api.md).

const (
	listConcurrency   = 4
	listMemberTimeout = 30 * time.Second
	listMaxPages      = 20
	maxListBody       = 64 << 20
)

// objectListLimits are OpenAI's default and largest limit per collection.
var objectListLimits = map[string]struct{ def, max int }{
	"files":   {10000, 10000},
	"batches": {20, 100},
}

// listedObject is one object of a member's list.
type listedObject struct {
	id      string
	created int64
	raw     json.RawMessage
}

// memberList is what one member answered.
type memberList struct {
	name    string
	objects []listedObject
	more    bool // the member still had more after listMaxPages pages
	status  int  // the failing answer's status, 0 when none came
	body    []byte
	err     error
	took    time.Duration
}

// serveObjectList answers GET files and GET batches on every surface.
func (p *Pipeline) serveObjectList(w http.ResponseWriter, r *http.Request, s *scope) error {
	deps, err := p.listDeployments(s)
	if err != nil {
		return err
	}
	lim := objectListLimits[s.call.Collection]
	limit := lim.def
	q := s.call.Query
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > lim.max {
			return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest,
				fmt.Sprintf("Invalid 'limit': integer must be between 1 and %d.", lim.max),
				"invalid_request_error", "limit", "", errString("bad limit"))
		}
		limit = n
	}
	after := q.Get("after")
	members := p.listMembers(deps, s.call.Operation)
	results := make([]memberList, len(members))
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = p.listFrom(r.Context(), s, m, lim.max)
		}()
	}
	wg.Wait()

	var all []listedObject
	more := false
	names := make([]string, 0, len(results))
	for _, res := range results {
		names = append(names, res.name)
		s.attempts++
		status := res.status
		if res.err == nil && status == 0 {
			status = http.StatusOK
		}
		s.noteListAttempt(res.name, status, res.err, res.took)
		p.metrics.attempts.WithLabelValues(res.name, listOutcome(status, res.err)).Inc()
	}
	s.upstream = strings.Join(names, ",")
	for _, res := range results {
		if err := listFailure(s, res); err != nil {
			if re, ok := err.(*relayedError); ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(re.status)
				s.status, s.respBytes = re.status, int64(len(re.body))
				_, werr := w.Write(re.body)
				return werr
			}
			return err
		}
		all = append(all, res.objects...)
		more = more || res.more
	}
	s.upstreamStatus = http.StatusOK
	slices.SortStableFunc(all, func(a, b listedObject) int {
		if c := cmp.Compare(b.created, a.created); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	if after != "" {
		i := slices.IndexFunc(all, func(o listedObject) bool { return o.id == after })
		if i < 0 {
			return errObjectNotFound(s.call.Collection, after, "list cursor not found")
		}
		all = all[i+1:]
	}
	if len(all) > limit {
		all, more = all[:limit], true
	}
	type list struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		FirstID *string           `json:"first_id"`
		LastID  *string           `json:"last_id"`
		HasMore bool              `json:"has_more"`
	}
	out := list{Object: "list", Data: make([]json.RawMessage, 0, len(all)), HasMore: more}
	for _, o := range all {
		out.Data = append(out.Data, o.raw)
	}
	if len(all) > 0 {
		out.FirstID, out.LastID = &all[0].id, &all[len(all)-1].id
	}
	return s.writeJSON(w, out)
}

// listDeployments are the deployments whose members a list asks: all of
// them for a caller granted the data action at account scope, else those
// the caller is granted it on (a role scoped to /deployments/x); none is
// the account-scope refusal.
func (p *Pipeline) listDeployments(s *scope) ([]string, error) {
	refused := p.authorize(s)
	if refused == nil {
		return p.depNames, nil
	}
	var deps []string
	for _, dn := range p.depNames {
		s.call.Deployment = dn
		if p.authorize(s) == nil {
			deps = append(deps, dn)
		}
	}
	s.call.Deployment = ""
	if len(deps) == 0 {
		return nil, refused
	}
	return deps, nil
}

// listMembers is every distinct upstream serving op through one of deps,
// in config order.
func (p *Pipeline) listMembers(deps []string, op openai.Operation) []poolMember {
	seen := map[string]bool{}
	var out []poolMember
	for _, dn := range deps {
		dep := p.deployments[dn]
		names := make([]string, 0, len(dep.members))
		for n := range dep.members {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			m := dep.members[n]
			if seen[m.target.Name()] || !m.target.Serves(op) {
				continue
			}
			seen[m.target.Name()] = true
			out = append(out, m)
		}
	}
	return out
}

// listFrom reads one member's whole list, page by page.
func (p *Pipeline) listFrom(ctx context.Context, s *scope, m poolMember, pageSize int) memberList {
	t := m.target
	res := memberList{name: t.Name()}
	start := p.now()
	defer func() { res.took = p.now().Sub(start) }()
	ctx, cancel := context.WithTimeout(ctx, listMemberTimeout)
	defer cancel()
	q := url.Values{}
	for k, v := range s.call.Query {
		if k != "limit" && k != "after" {
			q[k] = v
		}
	}
	q.Set("limit", strconv.Itoa(pageSize))
	for page := 0; ; page++ {
		uc := upstream.Call{Operation: s.call.Operation, Deployment: m.upstream, APIVersion: s.call.APIVersion,
			Path: s.call.UpstreamPath, Query: q}
		objects, more, err := p.listPage(ctx, t, uc, &res)
		if err != nil {
			res.err = err
			return res
		}
		if res.status != 0 {
			return res
		}
		res.objects = append(res.objects, objects...)
		if !more || len(objects) == 0 {
			return res
		}
		if page+1 == listMaxPages {
			res.more = true
			return res
		}
		q = cloneValues(q)
		q.Set("after", objects[len(objects)-1].id)
	}
}

// listPage reads one page; a non-2xx answer is kept in res.
func (p *Pipeline) listPage(ctx context.Context, t *upstream.Target, uc upstream.Call, res *memberList) ([]listedObject, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL(uc).String(), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	if err := t.Authorize(ctx, req, uc); err != nil {
		return nil, false, err
	}
	resp, err := t.Transport().RoundTrip(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > maxListBody {
		return nil, false, errString("list answer too large")
	}
	if resp.StatusCode/100 != 2 {
		res.status, res.body = resp.StatusCode, body
		return nil, false, nil
	}
	var l struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, false, fmt.Errorf("list answer: %w", err)
	}
	out := make([]listedObject, 0, len(l.Data))
	for _, raw := range l.Data {
		var o struct {
			ID        string `json:"id"`
			CreatedAt int64  `json:"created_at"`
		}
		if err := json.Unmarshal(raw, &o); err != nil || o.ID == "" {
			return nil, false, errString("list answer: an entry without an id")
		}
		out = append(out, listedObject{id: o.ID, created: o.CreatedAt, raw: raw})
	}
	return out, l.HasMore, nil
}

// listFailure is the client's answer when a member's list failed, or nil.
func listFailure(s *scope, res memberList) error {
	cause := fmt.Errorf("list %s on %s", s.call.Collection, res.name)
	switch {
	case res.err != nil && errors.Is(res.err, context.Canceled) && s.clientCtx != nil && s.clientCtx.Err() != nil:
		s.canceled = true
		return httpx.Gone(httpx.KindClientCanceled, res.err)
	case res.err != nil && (isTimeout(res.err) || errors.Is(res.err, context.DeadlineExceeded)):
		return httpx.FrontDoor(http.StatusGatewayTimeout, httpx.KindUpstreamTimeout, "504", openai.MsgGatewayTimeout,
			fmt.Errorf("%w: %w", cause, res.err))
	case res.err != nil:
		return httpx.FrontDoor(http.StatusBadGateway, httpx.KindUpstreamUnreachble, "502", openai.MsgServiceUnavailable,
			fmt.Errorf("%w: %w", cause, res.err))
	case res.status == 0:
		return nil
	}
	s.upstreamStatus = res.status
	if res.status/100 == 4 && res.status != http.StatusTooManyRequests && json.Valid(res.body) {
		return &relayedError{status: res.status, body: bytes.TrimSpace(res.body), cause: cause}
	}
	return httpx.FrontDoor(http.StatusBadGateway, httpx.KindUpstreamError, "502", openai.MsgServiceUnavailable,
		fmt.Errorf("%w: upstream answered %d", cause, res.status))
}

// relayedError is a member's own 4xx answer to a list, passed on as it came.
type relayedError struct {
	status int
	body   []byte
	cause  error
}

func (e *relayedError) Error() string {
	return fmt.Sprintf("%v: upstream answered %d", e.cause, e.status)
}

// noteListAttempt adds one member's list call to the log's attempt trace.
func (s *scope) noteListAttempt(name string, status int, err error, took time.Duration) {
	if s.attemptLog != "" {
		s.attemptLog += "; "
	}
	if err != nil {
		s.attemptLog += fmt.Sprintf("%s error %dms", name, took.Milliseconds())
		return
	}
	s.attemptLog += fmt.Sprintf("%s %d %dms", name, status, took.Milliseconds())
}

func listOutcome(status int, err error) string {
	switch {
	case err != nil:
		return "error"
	case status == http.StatusTooManyRequests:
		return "throttled"
	case status >= 500:
		return "server_error"
	default:
		return strconv.Itoa(status/100) + "xx"
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
