package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/novamed/partner-api/internal/novamed"
)

// maxBody is the largest request body accepted (1 MiB).
const maxBody = 1 << 20

type successBody struct {
	Success bool   `json:"success"`
	Data    any    `json:"data"`
	Message string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, status = []byte(`{"success":false,"error":{"message":"`+novamed.MsgInternal+`","code":"INTERNAL_ERROR"}}`), http.StatusInternalServerError
	}
	writeRaw(w, status, append(b, '\n'))
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// With its length known, a body above net/http's 2 KB buffer (a list)
	// goes out in one write instead of chunks the client must decode.
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}

// marshalSuccess encodes a success envelope.
func marshalSuccess(data any, message string) ([]byte, error) {
	if b, ok := marshalPatients(data, message); ok {
		return b, nil
	}
	return marshalBody(successBody{Success: true, Data: data, Message: message})
}

// marshalBody encodes a response body with its trailing newline.
func marshalBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readInput reads the (size-limited) body and decodes it as one JSON object.
func readInput(r *http.Request) (*novamed.Input, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTooLarge
		}
		return nil, &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "The request body could not be read."}
	}
	in, err := novamed.DecodeInput(body)
	if err == nil {
		stateOf(r).input = in
	}
	return in, err
}

var errTooLarge = &novamed.Error{Code: novamed.CodeBodyTooLarge, Message: "Request body must be at most 1 MiB."}
