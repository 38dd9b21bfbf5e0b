package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// apiError is an error the client is told about, in the shape
// {"error":{"code":"...","message":"...","field":"..."}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Findings lists every problem of an invalid CSAF document.
	Findings []csaf.Finding `json:"findings,omitempty"`
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

func errBadRequest(code, field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// errInvalid reports a field whose value breaks a rule.
func errInvalid(field, format string, args ...any) *apiError {
	return errBadRequest("invalid_field", field, "%s %s", field, fmt.Sprintf(format, args...))
}

func errNotFound(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: what + " not found"}
}

func errConflict(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthenticated = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "a valid API token is required (Authorization: Bearer ...)"}
	errForbidden       = &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "your role does not allow this"}
)

// storeErr turns a store error into the client's error when it is one the client caused.
func storeErr(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound(what)
	case errors.Is(err, store.ErrConflict):
		return errConflict("%s already exists", what)
	}
	return err
}

// maxBody is the default limit on a request body.
const maxBody = 1 << 20

// decode reads a JSON request body into v: one object, no unknown fields, within the size
// limit. Its errors name the offending field.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeLimit(w, r, v, maxBody)
}

// decodeLimit is decode with a body limit of its own.
func decodeLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: fmt.Sprintf("Content-Type %q: the body must be application/json", ct)}
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	// The body read is kept (it is bounded by the limit) to name an unknown field by its path.
	var seen bytes.Buffer
	br := bufio.NewReader(io.TeeReader(r.Body, &seen))
	// The body must be an object: "null" would decode into v as nothing at all.
	if b, err := peekNonSpace(br); err == nil && b != '{' {
		return errBadRequest("invalid_json", "", "the body must be a JSON object")
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			var doc any
			if json.Unmarshal(seen.Bytes(), &doc) == nil {
				if path := unknownPath(doc, reflect.TypeOf(v), name, ""); path != "" {
					return errBadRequest("unknown_field", path, "unknown field %q", path)
				}
			}
		}
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		if err == nil {
			return errBadRequest("invalid_json", "", "the body must hold a single JSON object")
		}
		return jsonError(err)
	}
	return nil
}

// unknownPath finds where in doc (a decoded JSON value) the key name is one that type t does
// not have, and returns its path, such as "applicability.purll" or "items[2].nmae"; "" when
// it finds none.
func unknownPath(doc any, t reflect.Type, name, at string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	switch d := doc.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for k, v := range d {
				if p := unknownPath(v, t.Elem(), name, fieldPath(at, k)); p != "" {
					return p
				}
			}
		case reflect.Struct:
			keys := make([]string, 0, len(d))
			for k := range d {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				f, ok := jsonField(t, k)
				if !ok {
					if k == name {
						return fieldPath(at, k)
					}
					continue
				}
				if p := unknownPath(d[k], f.Type, name, fieldPath(at, k)); p != "" {
					return p
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, v := range d {
				if p := unknownPath(v, t.Elem(), name, fmt.Sprintf("%s[%d]", at, i)); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

func fieldPath(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// jsonField finds the field of struct type t that encoding/json fills from key: by its tag
// name or, without one, its Go name, case-insensitively; embedded structs count.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if sf, ok := jsonField(et, key); ok {
					return sf, true
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// peekNonSpace returns the first byte of r that is not JSON white space, without consuming it.
func peekNonSpace(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			r.ReadByte()
		default:
			return b[0], nil
		}
	}
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return errBadRequest("invalid_json", "", "the body is empty: a JSON object is required")
	case errors.As(err, &tooBig):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the body is larger than the limit of %d bytes", tooBig.Limit)}
	case errors.As(err, &syn):
		return errBadRequest("invalid_json", "", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errBadRequest("invalid_json", "", "malformed JSON: the body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errBadRequest("invalid_json", "", "the body must be a JSON object, not %s", typ.Value)
		}
		return errBadRequest("invalid_field", field, "%s must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), jsonValueKind(typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errBadRequest("unknown_field", field, "unknown field %q", field)
	}
	return errBadRequest("invalid_json", "", "malformed JSON: %v", err)
}

// jsonValueKind names the kind of JSON value encoding/json reports as UnmarshalTypeError.Value.
func jsonValueKind(v string) string {
	switch v {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "an object"
	}
	return v
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a " + goKind
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="patchday"`)
	}
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}
