package logquery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/openai"
)

// maxBodyBytes bounds a query request; kql itself refuses queries over
// 64 KiB, and JSON escaping can at most double that.
const maxBodyBytes = 256 << 10

// HandlerOptions configures Handler.
type HandlerOptions struct {
	// Authorize decides whether the request may read the log; it is called
	// with DataAction before anything runs, and returns the actor's display
	// ID for the log. Its error is written with httpx.As, so an
	// *httpx.Error (401, 403 …) reaches the client as it is. Required.
	Authorize func(r *http.Request, dataAction string) (actor string, err error)
	// Query runs a KQL query, normally (*Runner).Query. Required.
	Query func(ctx context.Context, query string) (*Result, error)
	// Logger receives one line per query; nil discards.
	Logger *slog.Logger
	// Admit, when set, admits the request for the authorized actor before
	// the query runs (normally (*Limiter).Admit); its error is answered
	// through QueryError, a *BusyError as a 429.
	Admit func(actor string) (release func(), err error)
	// Content reports whether the authorized request may also read prompt
	// and completion text (it holds ContentDataAction); nil means never.
	Content func(r *http.Request) bool
	// AuditContent records a query that read prompt or completion text,
	// before its rows are sent; when it fails the rows are not sent. A
	// Handler without it never lets content be read.
	AuditContent func(r *http.Request, actor, query string, rows int) error
}

// Handler serves the query API, meant to be mounted at POST /api/query on
// the management plane. The body is {"query": "…"} (Content-Type
// application/json) or the query as plain text; the answer is the Wire
// document. Mistakes in the query are 400 with Azure's front-door envelope
// and the position: {"error":{"code":"BadRequest","message": "line 1, col 5: …"}}.
func Handler(o HandlerOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return httpx.FrontDoor(http.StatusMethodNotAllowed, httpx.KindClientBadRequest,
				"MethodNotAllowed", "Use POST with the query in the body.", nil)
		}
		actor, err := o.Authorize(r, DataAction)
		if err != nil {
			return err
		}
		query, herr := readQuery(w, r)
		if herr != nil {
			return herr
		}
		if o.Admit != nil {
			release, err := o.Admit(actor)
			if err != nil {
				o.Logger.Info("log query refused", "actor", actor, "err", err)
				return QueryError(err)
			}
			defer release()
		}
		ctx := r.Context()
		if o.Content != nil && o.AuditContent != nil && o.Content(r) {
			ctx = WithContent(ctx)
		}
		res, err := o.Query(ctx, query)
		if err != nil {
			he := QueryError(err)
			o.Logger.Info("log query failed", "actor", actor, "query_bytes", len(query), "status", he.Status, "err", err)
			return he
		}
		if res.Content {
			err := errors.New("no audit for a content read")
			if o.AuditContent != nil {
				err = o.AuditContent(r, actor, query, len(res.Rows))
			}
			if err != nil {
				o.Logger.Error("log query: content read not audited; rows withheld", "actor", actor, "err", err)
				return httpx.Internal(http.StatusInternalServerError, httpx.KindGatewayInternal, err)
			}
		}
		o.Logger.Info("log query", "actor", actor, "query_bytes", len(query), "rows", len(res.Rows),
			"elapsed", res.Elapsed.Round(time.Microsecond))
		WriteResult(w, res)
		return nil
	})
}

// WriteResult sends res as the Wire JSON document with status 200.
func WriteResult(w http.ResponseWriter, res *Result) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = WriteJSON(w, res)
}

// readQuery extracts the query text from a JSON or plain-text body.
func readQuery(w http.ResponseWriter, r *http.Request) (string, *httpx.Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", httpx.New(http.StatusRequestEntityTooLarge, httpx.KindClientTooLarge,
				openai.FrontDoorError("BadRequest", "The query is too large."), err)
		}
		return "", httpx.New(http.StatusBadRequest, httpx.KindClientCanceled,
			openai.FrontDoorError("BadRequest", "The request body could not be read."), err)
	}
	query := string(body)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var in struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return "", httpx.New(http.StatusBadRequest, httpx.KindClientBadRequest,
				openai.FrontDoorError("BadRequest", `The body must be a JSON object {"query": "..."}.`), err)
		}
		query = in.Query
	}
	if strings.TrimSpace(query) == "" {
		return "", httpx.New(http.StatusBadRequest, httpx.KindClientBadRequest,
			openai.FrontDoorError("BadRequest", "The query is empty."), nil)
	}
	return query, nil
}

// QueryError maps an error from Run to the client's answer: query mistakes
// and rejected values are 400 with their message, a timeout is 504 with
// advice, anything else a 500 that says nothing of the database.
func QueryError(err error) *httpx.Error {
	var ke *kql.Error
	var de *DataError
	var te *TimeoutError
	var be *BusyError
	switch {
	case errors.As(err, &be):
		return busyResponse(be)
	case errors.As(err, &ke):
		return httpx.New(http.StatusBadRequest, httpx.KindClientBadRequest,
			openai.FrontDoorError("BadRequest", ke.Error()), err)
	case errors.As(err, &de):
		return httpx.New(http.StatusBadRequest, httpx.KindClientBadRequest,
			openai.FrontDoorError("BadRequest", "The query failed on a value: "+de.Msg), err)
	case errors.As(err, &te):
		return httpx.New(http.StatusGatewayTimeout, httpx.KindGatewayInternal,
			openai.FrontDoorError("Timeout", te.Error()), err)
	case errors.Is(err, context.Canceled):
		return httpx.New(499, httpx.KindClientCanceled, openai.FrontDoorError("Canceled", "The request was canceled."), err)
	}
	return httpx.As(err, openai.FrontDoorError("500", openai.MsgInternalError))
}
