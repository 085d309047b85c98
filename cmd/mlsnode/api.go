package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The control API: HTTP/1.1 over a unix socket (default) or over loopback
// TCP with a bearer token. Every call is `POST /v1/<verb>` with one JSON
// object in the body and one JSON object back; `tail` streams events as
// newline-delimited JSON. Bodies are bounded (maxRequestBytes), decoded
// strictly (unknown fields and trailing data are refused), and every
// refusal is an apiError with a stable code.

const (
	// maxRequestBytes bounds a request body: a message of up to
	// maxMessageBytes base64-encodes to 4/3 of it, plus the envelope.
	maxRequestBytes = 2 << 20
	maxMessageBytes = 1 << 20
	apiPrefix       = "/v1/"
	tokenHeader     = "Authorization"
)

// Error codes of the control API.
const (
	codeBadRequest   = "bad_request"
	codeTooLarge     = "too_large"
	codeUnauthorized = "unauthorized"
	codeNotFound     = "not_found"
	codeUnavailable  = "unavailable"
	codeInternal     = "internal"
)

// Sentinels that an *apiError matches with errors.Is, by code.
var (
	ErrBadRequest   = errors.New("control: bad request")
	ErrTooLarge     = errors.New("control: request too large")
	ErrUnauthorized = errors.New("control: unauthorized")
	ErrNotFound     = errors.New("control: not found")
	ErrUnavailable  = errors.New("control: unavailable")
	ErrInternal     = errors.New("control: internal error")
)

var codeSentinels = map[string]error{
	codeBadRequest:   ErrBadRequest,
	codeTooLarge:     ErrTooLarge,
	codeUnauthorized: ErrUnauthorized,
	codeNotFound:     ErrNotFound,
	codeUnavailable:  ErrUnavailable,
	codeInternal:     ErrInternal,
}

// apiError is the control API's typed error, on the wire and in the client.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("control: %s: %s", e.Code, e.Message) }

// Is matches the sentinel of the error's code.
func (e *apiError) Is(target error) bool { return codeSentinels[e.Code] == target }

type errorBody struct {
	Error *apiError `json:"error"`
}

// request is the one request shape; each verb reads the fields it needs
// and refuses a request that lacks them.
type request struct {
	Group string `json:"group,omitempty"`
	Peer  string `json:"peer,omitempty"`
	Addr  string `json:"addr,omitempty"`
	// Data is the message body (base64 in JSON).
	Data []byte `json:"data,omitempty"`
	// History asks tail to replay the stored messages first.
	History bool `json:"history,omitempty"`
}

// decodeStrict reads exactly one JSON object with only known fields.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func encodeJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}
