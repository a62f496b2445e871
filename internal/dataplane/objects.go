package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Stored objects (responses now) live on the pool member that created them.
// moat pins each one when its create answers (object ID → deployment and
// member, in the affinity table shared through the store) and sends every
// later call on it there: retrieve, delete, cancel, input_items, and creates
// that chain to it with previous_response_id. A pinned call has one
// candidate, its member, whatever the weights, benches or breakers say: if
// the member fails, the client gets that failure (the member's 404, 5xx or
// moat's 502/504), never a silent reroute to a member that does not hold
// the object.

// isObjectCollection reports whether rest is in the files or batches API.
func isObjectCollection(rest string) bool {
	collection, _, _ := strings.Cut(rest, "/")
	return collection == "files" || collection == "batches"
}

// routeObject parses "responses/{id}[/action]", "files[/{id}[/content]]"
// and "batches[/{id}[/cancel]]" below prefix into c.
func routeObject(c Call, method, rest, prefix string, q url.Values) (Call, error) {
	collection, tail, _ := strings.Cut(rest, "/")
	id, action, _ := strings.Cut(tail, "/")
	if id == "" && tail == "" && collection != "responses" {
		op, ok := openai.CollectionOperation(collection, method)
		if !ok {
			return Call{}, errNotFound("unrouted collection call " + method + " " + rest)
		}
		c.Operation, c.Collection, c.UpstreamPath, c.PathTemplate = op, collection, collection, prefix+op.Suffix
		c.Query = clientQuery(q)
		return c, nil
	}
	if !validObjectID(id) {
		return Call{}, errNotFound("bad object id")
	}
	op, ok := openai.ObjectOperation(collection, method, action)
	if !ok {
		return Call{}, errNotFound("unknown operation " + rest)
	}
	c.Operation, c.Object, c.Collection = op, id, collection
	c.UpstreamPath = collection + "/" + id
	if action != "" {
		c.UpstreamPath += "/" + action
	}
	c.PathTemplate = prefix + op.Suffix
	c.Query = clientQuery(q)
	return c, nil
}

// clientQuery is the client's query without api-version, or nil.
func clientQuery(q url.Values) url.Values {
	var out url.Values
	for k, v := range q {
		if k == "api-version" {
			continue
		}
		if out == nil {
			out = url.Values{}
		}
		out[k] = v
	}
	return out
}

// validObjectID accepts the IDs upstreams mint (resp_…, file-…, batch_…):
// letters, digits, '_', '-' and '.', so an ID is always one path segment.
func validObjectID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return id != "." && id != ".."
}

// serveObject serves a call on a stored object, and the creates that
// decide where an object will live: a file upload goes to a member of the
// deployment its batch lines name (routed by weight), a batch create to the
// member holding its input file. An object's pin names the deployment (for
// authorization and the log) and the member to call.
func (p *Pipeline) serveObject(w http.ResponseWriter, r *http.Request, s *scope) error {
	body, err := p.readAll(w, r)
	if err != nil {
		return httpx.Model(http.StatusBadRequest, httpx.KindClientCanceled,
			"Could not read the request body.", "invalid_request_error", "", "", err)
	}
	s.body, s.req = body, &openai.Request{}
	if s.call.Object == "" && r.Method == http.MethodGet {
		return p.serveObjectList(w, r, s)
	}
	var pin affinity.Pin
	switch {
	case s.call.Object != "":
		if pin, err = p.pinOf(r.Context(), s.call.Collection, s.call.Object); err != nil {
			return err
		}
	case s.call.Operation.ID == "Batch_Create":
		in, err := batchInputFile(body)
		if err != nil {
			return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest,
				err.Error(), "invalid_request_error", "input_file_id", "", err)
		}
		if pin, err = p.pinOf(r.Context(), "files", in); err != nil {
			return err
		}
	default: // Files_Upload
		model, err := uploadDeployment(r.Header.Get("Content-Type"), body)
		if err != nil {
			return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest,
				err.Error(), "invalid_request_error", "file", "", err)
		}
		pin.Deployment = model
	}
	s.call.Deployment = pin.Deployment
	if err := p.authorize(s); err != nil {
		return err
	}
	dep := p.deployments[pin.Deployment]
	if dep == nil && pin.Member == "" {
		return errDeploymentNotFound()
	}
	if dep == nil {
		return errObjectNotFound(s.call.Collection, s.call.Object, "deployment "+pin.Deployment+" no longer configured")
	}
	if _, ok := dep.members[pin.Member]; pin.Member != "" && !ok {
		return errObjectNotFound(s.call.Collection, s.call.Object, "member "+pin.Member+" no longer in the pool")
	}
	s.deployment, s.pinned, s.pinKind = dep, pin.Member, pin.Kind
	if s.pinKind == affinity.KindBatchOutput && s.call.Operation.ID == "Files_GetContent" {
		// Batch results are charged when they are read (docs/limits.md).
		s.chargeObject = true
		if err := p.admit(r.Context(), s); err != nil {
			return err
		}
	}
	for _, k := range commonHeaders {
		w.Header().Del(k)
	}
	s.clientRequestID = r.Header.Get("X-Ms-Client-Request-Id")
	s.clientCtx = r.Context()
	p.proxy.ServeHTTP(w, r.WithContext(withScope(r.Context(), s)))
	flushAnswer(w, s)
	return nil
}

// pinOf finds where the object of a collection lives: a 404 in the
// upstream's shape when nobody knows, a 503 when the store cannot say.
func (p *Pipeline) pinOf(ctx context.Context, collection, id string) (affinity.Pin, error) {
	pin, err := p.lookupPin(ctx, id)
	if errors.Is(err, affinity.ErrNotFound) {
		return pin, errObjectNotFound(collection, id, "no pin")
	}
	return pin, err
}

// followPin sends a create that chains to a stored response
// (previous_response_id) to the member holding it. Without a pin (the
// response was not created through moat, or its pin expired) the call is
// routed by weight and the upstream answers for the ID. When the store
// cannot say and the cache does not know, the call fails with 503 rather
// than guess: a guess would reach a member that does not hold the chain.
func (p *Pipeline) followPin(ctx context.Context, s *scope) error {
	if s.req == nil || s.req.PreviousResponseID == "" || p.pins == nil || len(s.deployment.members) < 2 {
		return nil
	}
	pin, err := p.lookupPin(ctx, s.req.PreviousResponseID)
	switch {
	case err == nil:
		if _, ok := s.deployment.members[pin.Member]; ok {
			s.pinned = pin.Member
		}
		return nil
	case errors.Is(err, affinity.ErrNotFound):
		return nil
	default:
		return err
	}
}

// lookupPin reads a pin, turning a store outage into the 503 the client sees.
func (p *Pipeline) lookupPin(ctx context.Context, id string) (affinity.Pin, error) {
	if p.pins == nil {
		return affinity.Pin{}, affinity.ErrNotFound
	}
	pin, err := p.pins.Get(ctx, id)
	if err != nil && !errors.Is(err, affinity.ErrNotFound) {
		return pin, httpx.FrontDoor(http.StatusServiceUnavailable, httpx.KindGatewayInternal,
			"503", "The service cannot locate this response right now. Please try again later.", err)
	}
	return pin, err
}

// errObjectNotFound is the upstream's answer for an unknown object ID.
func errObjectNotFound(collection, id, cause string) *httpx.Error {
	what := map[string]string{"files": "File", "batches": "Batch"}[collection]
	if what == "" {
		what = "Response"
	}
	return httpx.Model(http.StatusNotFound, httpx.KindClientNotFound,
		fmt.Sprintf("%s with id '%s' not found.", what, id), "invalid_request_error", "", "", errString(cause))
}

// candidates appends to dst the routing policy's ordered list, or the
// pinned member alone.
func (p *Pipeline) candidates(s *scope, dst []string) ([]string, error) {
	if s.pinned != "" {
		return append(dst, s.pinned), nil
	}
	return s.deployment.pool.AppendCandidateNames(dst, p.now(), nil)
}

// maxPinPeek bounds how much of a create's answer is read ahead to find the
// new object's ID: it is the first member of a response object and of the
// response.created event.
const maxPinPeek = 16 << 10

// recordPin runs before the answer's first byte reaches the client: a
// successful create pins the new object (a response, an uploaded file, a
// batch) to the member that made it, so a follow-up sent the moment the
// client sees the ID, to any replica, finds the pin; a batch's answer pins
// its output and error files; a successful delete drops the pin. The store
// write is bounded by the store timeout; if it fails, this replica still
// knows the pin.
func (p *Pipeline) recordPin(resp *http.Response, s *scope) {
	if p.pins == nil || resp.StatusCode/100 != 2 {
		return
	}
	ctx := resp.Request.Context()
	kind := map[string]affinity.Kind{"files": affinity.KindFile, "batches": affinity.KindBatch}[s.call.Collection]
	switch {
	case s.call.Collection == "" && s.call.Operation.StoresObject:
		kind = affinity.KindResponse
	case s.call.Object != "" && resp.Request.Method == http.MethodDelete:
		if err := p.pins.Delete(ctx, s.call.Object); err != nil {
			p.log.Warn("drop pin", "request_id", s.id, "err", err)
		}
		return
	case s.call.Object != "" && s.call.Collection == "batches":
		p.pinBatchFiles(resp, s)
		return
	case s.call.Object != "" || kind == "":
		if s.chargeObject {
			resp.Body = &batchUsage{ReadCloser: resp.Body, s: s}
		}
		return
	}
	br := p.peekBody(resp, s)
	id := peekObjectID(br, func() {
		if s.firstByte.IsZero() {
			s.firstByte = p.now()
		}
	})
	if id == "" {
		p.log.Warn("create answered without an id; not pinned", "request_id", s.id, "operation", s.call.Operation.ID)
		return
	}
	if err := p.pins.Put(ctx, kind, id, s.deployment.name, s.upstream); err != nil {
		p.log.Warn("pin object", "request_id", s.id, "member", s.upstream, "err", err)
	}
}

// peekBody puts a read-ahead buffer in front of the answer's body.
func (p *Pipeline) peekBody(resp *http.Response, s *scope) *bufio.Reader {
	br := bufio.NewReaderSize(resp.Body, maxPinPeek)
	resp.Body = struct {
		io.Reader
		io.Closer
	}{br, resp.Body}
	return br
}

// peekObjectID reads ahead, without consuming, until the answer's object ID
// is known: the top-level "id" of a JSON body, or the response's "id" in the
// first stream event. It stops at maxPinPeek bytes or the end of the body.
func peekObjectID(br *bufio.Reader, arrived func()) string {
	n := 1
	for {
		buf, err := br.Peek(n)
		if len(buf) > 0 {
			arrived()
		}
		if id, done := objectIDIn(buf, err != nil); done {
			return id
		}
		if err != nil || len(buf) >= maxPinPeek {
			return ""
		}
		n = min(br.Buffered()+1, maxPinPeek)
	}
}

// objectIDIn finds the object ID in the head of an answer; done is false
// while more bytes could still tell.
func objectIDIn(head []byte, final bool) (id string, done bool) {
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) == 0 {
		return "", final
	}
	if t[0] == '{' { // a JSON body
		id, ok := topLevelID(t)
		return id, ok || final
	}
	// An event stream: the first event whose data carries a response.
	for len(t) > 0 {
		end := openai.SplitEvent(t)
		if end < 0 {
			return "", final
		}
		_, data := eventData(t[:end])
		var ev struct {
			Response struct {
				ID string `json:"id"`
			} `json:"response"`
		}
		if json.Unmarshal(data, &ev) == nil && ev.Response.ID != "" {
			return ev.Response.ID, true
		}
		t = t[end:]
	}
	return "", final
}

// topLevelID reads the top-level "id" string of a JSON object from its
// head; ok is false when the head ends before it is known.
func topLevelID(head []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(head))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", false
		}
		if key == "id" {
			v, err := dec.Token()
			if err != nil {
				return "", false
			}
			id, _ := v.(string)
			return id, true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	if _, err := dec.Token(); err != nil {
		return "", false // the head ends here
	}
	return "", true // a whole object without an id
}

// backgroundCreate reports whether the call created a background response:
// its answer comes before the generation, without usage.
func (s *scope) backgroundCreate() bool {
	return s.call.Operation.StoresObject && s.call.Object == "" && s.req != nil && s.req.Background && !s.streamed
}

// outputAllowance is the output a call may generate: its own cap, else
// rate_limits.default_max_tokens.
func (p *Pipeline) outputAllowance(s *scope) int {
	if c := s.req.OutputCap(); c > 0 {
		return c
	}
	return p.defaultMaxTokens
}
