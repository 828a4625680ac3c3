package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxBody caps every request body; nothing the API takes is larger.
const maxBody = 1 << 20

// Error is an API error: an HTTP status, a stable machine-readable code and a
// message for people. Handlers return it; writeError renders it.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int // seconds; sets Retry-After when > 0
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var errUnauthenticated = errorf(http.StatusUnauthorized, "unauthenticated", "authentication required: log in or send an API token as \"Authorization: Bearer <token>\"")

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(http.StatusInternalServerError, "internal", "internal error")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Message
	writeJSON(w, e.Status, body)
}

// decode reads a JSON body strictly: unknown fields, trailing data, a wrong
// content type or an oversized body are all 4xx errors.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "bad_request", "request body is empty; send a JSON object")
		default:
			return errorf(http.StatusBadRequest, "bad_request", "invalid JSON body: %v", err)
		}
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "bad_request", "invalid JSON body: unexpected data after the object")
	}
	return nil
}

// list is the shape of every listing: a page of items and the cursor of the
// next page ("" on the last).
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func newList[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, NextCursor: next}
}

// page reads ?limit (default 100, at most 1000) and ?cursor.
func page(r *http.Request) (limit int, cursor string, err error) {
	limit = 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, "", errorf(http.StatusBadRequest, "bad_request", "limit must be a number from 1 to 1000")
		}
		limit = n
	}
	if s := r.URL.Query().Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return 0, "", errorf(http.StatusBadRequest, "bad_request", "cursor is not one this server gave out")
		}
		cursor = string(b)
	}
	return limit, cursor, nil
}

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// writePage answers with one page of a listing. The store was asked for
// limit+1 rows: if it gave that many, there is a next page, which starts
// after the key of the last row shown.
func writePage[S, J any](w http.ResponseWriter, rows []S, limit int, key func(S) string, toJSON func(S) J) {
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(key(rows[limit-1]))
	}
	out := make([]J, 0, len(rows))
	for _, row := range rows {
		out = append(out, toJSON(row))
	}
	writeJSON(w, http.StatusOK, newList(out, next))
}
