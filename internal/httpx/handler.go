package httpx

import "net/http"

// HandlerFunc is an HTTP handler that returns its failure instead of
// writing it (Caddy's caddyhttp.Handler, Tailscale's tsweb.ReturnHandler).
// It must not have written anything when it returns an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler adapts h to an http.Handler whose failures r renders: an *Error
// keeps its status, kind and headers; any other error is a 500
// gateway_internal whose cause never reaches the client. onError, if not
// nil, sees every failure first (to log it).
func Handler(r Renderer, onError func(*http.Request, *Error), h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := h(w, req); err != nil {
			he := From(err)
			if onError != nil {
				onError(req, he)
			}
			WriteError(w, r, he)
		}
	})
}
