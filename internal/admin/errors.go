package admin

import (
	"errors"
	"fmt"
	"net/http"
)

// RequestError is a problem with the caller's request: bad input, an
// unknown ID, a conflict. Its message is written for the caller and never
// holds a secret, so the HTTP API sends it and the CLI prints it.
type RequestError struct {
	// Status is the HTTP status: 400, 404 or 409.
	Status int
	// Code is the error code in Azure's envelope.
	Code    string
	Message string
	// Err is an optional cause, for the log.
	Err error
}

// Error returns the caller-facing message.
func (e *RequestError) Error() string { return e.Message }

// Unwrap returns the cause, so errors.Is sees store sentinels.
func (e *RequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Code: "BadRequest", Message: fmt.Sprintf(format, args...)}
}

func notFound(cause error, format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf(format, args...), Err: cause}
}

func conflict(code, format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid collects validation problems so that a request learns all of
// them at once.
type invalid []string

func (v *invalid) add(format string, args ...any) { *v = append(*v, fmt.Sprintf(format, args...)) }

func (v invalid) err() error {
	if len(v) == 0 {
		return nil
	}
	msg := v[0]
	for _, p := range v[1:] {
		msg += "; " + p
	}
	return badRequest("%s", msg)
}

// IsRequestError reports whether err is the caller's fault (a *RequestError).
func IsRequestError(err error) bool {
	var re *RequestError
	return errors.As(err, &re)
}
