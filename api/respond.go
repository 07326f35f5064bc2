package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/hwtrack/hwtrack/model"
)

// Error codes of the JSON error shape. Each maps to one HTTP status.
const (
	codeInvalidJSON      = "invalid_json"       // 400
	codeInvalidQuery     = "invalid_query"      // 400
	codeUnauthorized     = "unauthorized"       // 401
	codeNotFound         = "not_found"          // 404
	codeMethodNotAllowed = "method_not_allowed" // 405
	codeConflict         = "conflict"           // 409
	codeTooLarge         = "too_large"          // 413
	codeInvalidInput     = "invalid_input"      // 422
	codeInternal         = "internal"           // 500
	codeNotImplemented   = "not_implemented"    // 501
)

// Request body limits in bytes. Zones get more room than other objects
// because a detailed boundary polygon runs to a few hundred kilobytes, and
// bulk vehicle registration carries up to maxBulkVehicles objects.
const (
	maxBodyBytes        = 1 << 20
	maxZoneBodyBytes    = 4 << 20
	maxVehicleBodyBytes = 32 << 20
)

// apiError is a failure that the client caused or must know about. Its
// fields become the JSON error object.
type apiError struct {
	Status  int
	Code    string
	Message string
	Fields  []model.FieldError
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func errNotFound(message string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: message}
}

func errConflict(message string, fields ...model.FieldError) *apiError {
	return &apiError{Status: http.StatusConflict, Code: codeConflict, Message: message, Fields: fields}
}

func errInvalidJSON(message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalidJSON, Message: message}
}

// errInvalidInput reports a body that parsed but failed validation.
func errInvalidInput(fields []model.FieldError) *apiError {
	return &apiError{
		Status:  http.StatusUnprocessableEntity,
		Code:    codeInvalidInput,
		Message: describeFields("invalid input", fields),
		Fields:  fields,
	}
}

// errInvalidQuery reports bad URL query parameters.
func errInvalidQuery(fields []model.FieldError) *apiError {
	return &apiError{
		Status:  http.StatusBadRequest,
		Code:    codeInvalidQuery,
		Message: describeFields("invalid query parameters", fields),
		Fields:  fields,
	}
}

// describeFields builds a one-line message that names the first problem, so
// a client that only shows the message still shows the user what to fix.
func describeFields(prefix string, fields []model.FieldError) string {
	switch len(fields) {
	case 0:
		return prefix
	case 1:
		return prefix + ": " + fields[0].Error()
	default:
		return fmt.Sprintf("%s: %s (and %d more)", prefix, fields[0].Error(), len(fields)-1)
	}
}

type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Code    string             `json:"code"`
	Message string             `json:"message"`
	Fields  []model.FieldError `json:"fields,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorBody{Error: errorObject{Code: e.Code, Message: e.Message, Fields: e.Fields}})
}

// writeJSON encodes body before writing the status line, so an encoding
// failure still becomes a clean 500.
func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"encoding the response failed"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// readBody reads the whole request body, at most limit bytes. It returns
// too_large past the limit and invalid_json for an empty body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &apiError{
			Status:  http.StatusRequestEntityTooLarge,
			Code:    codeTooLarge,
			Message: fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit),
		}
	}
	if err != nil {
		return nil, errInvalidJSON(fmt.Sprintf("reading the request body failed: %v", err))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errInvalidJSON("request body is empty; send a JSON document")
	}
	return data, nil
}

// decodeStrict decodes one JSON value from data into dst, rejecting unknown
// fields and trailing data. pathPrefix is put before field names in errors,
// for example "[3]." for the fourth element of a bulk request.
func decodeStrict(data []byte, dst any, pathPrefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, pathPrefix)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalidJSON("unexpected data after the JSON value; send exactly one JSON document")
	}
	return nil
}

// jsonError maps an encoding/json decoding error to the API error shape.
func jsonError(err error, pathPrefix string) error {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return errInvalidJSON(fmt.Sprintf("invalid JSON at byte offset %d: %v", syntaxErr.Offset, syntaxErr))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errInvalidJSON("invalid JSON: the document ends early")
	}

	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := strings.TrimSuffix(pathPrefix, ".")
		if typeErr.Field != "" {
			field = pathPrefix + typeErr.Field
		}
		if field == "" {
			field = "(body)"
		}
		reason := fmt.Sprintf("must be %s, not a JSON %s", jsonKindOf(typeErr.Type), typeErr.Value)
		return errInvalidInput([]model.FieldError{{Field: field, Reason: reason}})
	}

	// encoding/json reports an unknown field only as an error string.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return errInvalidInput([]model.FieldError{{Field: pathPrefix + name, Reason: "unknown field"}})
	}
	return errInvalidJSON(fmt.Sprintf("invalid JSON: %v", err))
}

// jsonKindOf names the JSON value a Go type expects, for error reasons.
func jsonKindOf(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	}
	return "a different type"
}
