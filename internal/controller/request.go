package controller

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/whirlfaas/whirl/whisk"
)

// MaxListLimit is the largest page a list returns.
const (
	MaxListLimit     = 200
	DefaultListLimit = 30
	// MaxEntityBody bounds a PUT body: 48 MB of code, base64-encoded, and
	// the rest of the document.
	MaxEntityBody = 48<<20*4/3 + 1<<20
)

// readBody reads at most max bytes of r's body. A larger body is refused
// with 413 without reading the rest.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, r.ContentLength, max)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, whisk.BadRequest(whisk.MsgMalformed + err.Error())
	}
	if int64(len(b)) > max {
		return nil, whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, len(b), max)
	}
	return b, nil
}

// MaxJSONDepth bounds the nesting of arrays and objects in a JSON body.
// Deeper bodies are refused with 400 before they reach an action: the
// runtimes' parsers give up sooner than Go's (Python's near 1000 levels,
// with a traceback).
const MaxJSONDepth = 512

// Messages of checkJSON, after whisk.MsgMalformed.
const (
	msgInvalidUTF8 = "the body is not valid UTF-8 (invalid byte at offset %d)"
	msgTooDeep     = "request body nested too deeply: more than %d levels of arrays and objects"
)

// readJSON reads a JSON body as readBody does, and refuses with 400 one
// that is not valid UTF-8 or nests deeper than MaxJSONDepth (checkJSON).
// Every reader of a JSON body goes through it.
func readJSON(r *http.Request, max int64) ([]byte, error) {
	b, err := readBody(r, max)
	if err != nil {
		return nil, err
	}
	return b, checkJSON(b)
}

// checkJSON refuses, with OpenWhisk's 400 and a message saying why, JSON
// text that is not valid UTF-8 (which Go's decoder lets through, and the
// runtimes fail on) or that nests deeper than MaxJSONDepth. Whether the
// text parses is left to the caller's decoder.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return whisk.BadRequest(whisk.MsgMalformed + fmt.Sprintf(msgInvalidUTF8, invalidUTF8At(b)))
	}
	if jsonDepth(b) > MaxJSONDepth {
		return whisk.BadRequest(whisk.MsgMalformed + fmt.Sprintf(msgTooDeep, MaxJSONDepth))
	}
	return nil
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of a valid UTF-8 sequence, or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// jsonDepth returns the deepest nesting of arrays and objects in the JSON
// text b, skipping strings. It does not check the syntax.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// OpenWhisk's messages for list paging that is not a number or a negative
// skip (Messages.argumentNotInteger, listSkipOutOfRange).
const (
	msgNotInteger = "The value '%s' is not an integer for %s."
	msgSkipRange  = "The value '%s' is not greater than or equal to 0 for %s."
)

// readPut reads what every entity PUT carries besides the name: the
// overwrite parameter and a body (at most MaxEntityBody) decoded into T.
func readPut[T any](r *http.Request) (overwrite bool, put T, err error) {
	if overwrite, err = boolParam(r, "overwrite", false); err != nil {
		return false, put, err
	}
	body, err := readJSON(r, MaxEntityBody)
	if err != nil {
		return false, put, err
	}
	err = whisk.DecodeStrict(body, &put)
	return overwrite, put, err
}

// listParams are the paging parameters of every list route.
type listParams struct {
	limit, skip int
	count       bool
}

func parseList(r *http.Request, collection string) (listParams, error) {
	q := r.URL.Query()
	p := listParams{limit: DefaultListLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, whisk.BadRequest(fmt.Sprintf(msgNotInteger, s, collection))
		}
		if n < 0 || n > MaxListLimit {
			return p, whisk.BadRequest(fmt.Sprintf(whisk.MsgListLimitRange, s, MaxListLimit, collection))
		}
		p.limit = n
		if n == 0 {
			p.limit = MaxListLimit
		}
	}
	if s := q.Get("skip"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, whisk.BadRequest(fmt.Sprintf(msgNotInteger, s, collection))
		}
		if n < 0 {
			return p, whisk.BadRequest(fmt.Sprintf(msgSkipRange, s, collection))
		}
		p.skip = n
	}
	var err error
	if p.count, err = boolParam(r, "count", false); err != nil {
		return p, err
	}
	return p, nil
}

// boolParam reads a boolean query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	switch strings.ToLower(s) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, whisk.BadRequest(fmt.Sprintf("The parameter '%s' must be true or false, not '%s'.", name, s))
}

// int64Param reads an integer query parameter; def when absent.
func int64Param(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, whisk.BadRequest(fmt.Sprintf("The parameter '%s' must be an integer, not '%s'.", name, s))
	}
	return n, nil
}

// checkKeyValues refuses parameters or annotations with an entry that has
// no key, as OpenWhisk's decoder does.
func checkKeyValues(field string, kv whisk.KeyValues) error {
	for _, p := range kv {
		if p.Key == "" {
			return whisk.BadRequest(whisk.MsgMalformed + field + ": every entry needs a non-empty \"key\"")
		}
	}
	return nil
}
