package catalog

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// defs is the catalog: OpenWhisk's manifests (packages/utils/manifest.yaml,
// packages/samples/manifest.yaml) for names, descriptions, parameters and
// samples; the code is Whirl's, behaving as OpenWhisk's does.
func defs() []*def {
	return []*def{
		{pkg: Utils, name: "echo", desc: "Returns the input",
			params:   []param{{Name: "payload", Required: no(), Description: "Any JSON entity"}},
			sampleIn: `{"payload":"Five fuzzy felines"}`, sampleOut: `{"payload":"Five fuzzy felines"}`, run: echo},
		{pkg: Utils, name: "cat", desc: "Concatenates input into a string",
			params:   []param{{Name: "lines", Required: yes(), Type: "array", Description: "An array of strings or numbers"}},
			sampleIn: `{"lines":[4,2,3]}`, sampleOut: `{"lines":[4,2,3]}`, run: utilsCat},
		{pkg: Utils, name: "smash", desc: "Nests all properties under given property",
			params:   []param{{Name: "$fieldName", Required: yes(), Type: "string", Description: "Name of property to nest object under"}},
			sampleIn: `{"a":1,"b":{"c":2,"d":3},"$fieldName":"p"}`, sampleOut: `{"p":{"a":1,"b":{"c":2,"d":3}}}`, run: smash},
		{pkg: Utils, name: "split", desc: "Split a string into an array",
			params: []param{{Name: "payload", Required: yes(), Description: "A string"},
				{Name: "separator", Required: no(), Description: "The character, or the regular expression, to use for splitting the string"}},
			sampleIn: `{"payload":"one,two,three","separator":","}`, sampleOut: `{"lines":["one","two","three"],"payload":"one,two,three"}`, run: split},
		{pkg: Utils, name: "sort", desc: "Sorts an array",
			params:   []param{{Name: "lines", Required: yes(), Type: "array", Description: "An array of strings"}},
			sampleIn: `{"lines":[4,2,3]}`, sampleOut: `{"lines":[2,3,4],"length":3}`, run: sortLines},
		{pkg: Utils, name: "head", desc: "Extract prefix of an array",
			params: []param{{Name: "lines", Required: yes(), Type: "array", Description: "An array of strings"},
				{Name: "num", Required: no(), Type: "integer", Description: "The length of the prefix"}},
			sampleIn: `{"lines":[4,2,3],"num":2}`, sampleOut: `{"lines":[4,2],"num":2}`, run: utilsHead},
		{pkg: Utils, name: "date", desc: "Current date and time",
			sampleOut: `{"date":"2016-03-22T00:59:55.961Z"}`, run: date},
		{pkg: Utils, name: "namespace", desc: "Returns namespace for the authorization key used to invoke this action",
			sampleOut: `{"namespace":"guest"}`, run: namespace},
		{pkg: Utils, name: "hosturl", desc: "Returns the URL to activate an action or trigger",
			params: []param{{Name: "web", Type: "boolean", Description: "True for web actions"},
				{Name: "ext", Type: "string", Description: "Extension for web action, one of .html, .http, .json, .text"},
				{Name: "trigger", Type: "boolean", Description: "True to construct path for trigger instead of action."},
				{Name: "path", Type: "string", Description: "The action name as just <action name> or <package name>/<action name>."}},
			sampleIn: `{"web":true,"path":"utils/echo"}`, sampleOut: `{"url":"https://openwhisk.ng.bluemix.net/api/v1/experimental/web/guest/utils/echo.json"}`, run: hosturl},

		{pkg: Samples, name: "cat", desc: "Equivalent to unix cat command",
			params:   []param{{Name: "lines", Required: yes(), Description: "an array of strings"}},
			sampleIn: `{"lines":[1,2,3]}`, sampleOut: `{"lines":[1,2,3],"payload":"1\n2\n3\n"}`, run: samplesCat},
		{pkg: Samples, name: "curl", desc: "Curl a host url",
			params:   []param{{Name: "payload", Required: yes(), Description: "A host url"}},
			sampleIn: `{"payload":"google.com"}`, sampleOut: `{"msg":"content returned from google.com"}`},
		{pkg: Samples, name: "greeting", desc: "Returns a friendly greeting",
			params:   []param{{Name: "name", Required: no()}, {Name: "place", Required: no(), Description: "The string to be included in the return value"}},
			sampleIn: `{"payload":"Cat","place":"Narrowsburg"}`, sampleOut: `{"payload":"Hello, Cat from Narrowsburg!"}`,
			sampleLog: "2016-03-22T01:07:08.384982272Z stdout: params: { place: 'Narrowsburg', payload: 'Cat' }", run: greeting},
		{pkg: Samples, name: "head", desc: "returns the first num lines of an array",
			params:   []param{{Name: "lines", Required: yes(), Description: "an array of strings"}, {Name: "num", Required: no(), Description: "number of lines to return"}},
			sampleIn: `{"lines":[1,2,3,4],"num":2}`, sampleOut: `{"lines":[1,2],"num":2}`, run: samplesHead},
		{pkg: Samples, name: "helloWorld", desc: "Demonstrates logging facilities",
			params:   []param{{Name: "payload", Required: no(), Description: "The string to be included in the log record"}},
			sampleIn: `{"payload":"Cat"}`, sampleOut: `{}`, sampleLog: "2016-03-22T01:02:26.387624916Z stdout: hello Cat!", run: helloWorld},
		{pkg: Samples, name: "printParams", desc: "print the parameters to the console, sorted alphabetically by key",
			params:   []param{},
			sampleIn: `{"x":1,"b":5,"z":2}`, sampleOut: `{"params":{"b":2,"x":1,"z":4}}`, run: printParams},
		{pkg: Samples, name: "wordCount", desc: "Count words in a string",
			params:   []param{{Name: "payload", Required: yes(), Description: "A string"}},
			sampleIn: `{"payload":"Five fuzzy felines"}`, sampleOut: `{"count":3}`,
			sampleLog: "2016-03-22T01:10:07.361649586Z stdout: The message 'Five fuzzy felines' has 3 words", run: wordCount},
		{pkg: Samples, name: "wordCountAsync", desc: "word count utility, coded as an asynchronous action for pedagogical purposes",
			params:   []param{{Name: "payload", Required: yes(), Description: "A string"}},
			sampleIn: `{"payload":"Five fuzzy felines"}`, sampleOut: `{"count":3}`, run: wordCountAsync},
	}
}

// compact renders a JSON value on one line, for logs.
func compact(raw json.RawMessage) string {
	if s, ok := decode(raw).(string); ok {
		return s
	}
	return string(raw)
}

// echo returns its parameters.
func echo(c *call) (any, error) { return object(c.order), nil }

// linesOf returns the lines parameter as `msg.lines || []` does, as raw
// elements; a truthy value that is not an array fails with the TypeError
// method would throw.
func linesOf(c *call, method string) ([]json.RawMessage, error) {
	if !c.truthy("lines") {
		return []json.RawMessage{}, nil
	}
	var lines []json.RawMessage
	if err := json.Unmarshal(c.params["lines"], &lines); err != nil {
		return nil, typeError("lines." + method + " is not a function")
	}
	return lines, nil
}

func values(lines []json.RawMessage) []any {
	out := make([]any, len(lines))
	for i, l := range lines {
		out[i] = decode(l)
	}
	return out
}

// utilsCat joins lines with "\n": {lines, payload}.
func utilsCat(c *call) (any, error) {
	lines, err := linesOf(c, "join")
	if err != nil {
		return nil, err
	}
	res := map[string]any{"lines": lines, "payload": joinElems(values(lines), "\n")}
	b, _ := json.Marshal(res)
	c.log("cat: returning " + string(b))
	return res, nil
}

// sortLines sorts lines as Array.prototype.sort does without a compare
// function: stable, by String() of each element in UTF-16 order, null
// elements compared as "null".
func sortLines(c *call) (any, error) {
	lines, err := linesOf(c, "sort")
	if err != nil {
		return nil, err
	}
	c.log("sort input msg: " + string(object(c.order)))
	vals := values(lines)
	keys := make([]string, len(vals))
	for i, v := range vals {
		keys[i] = jsString(v)
	}
	c.log("sort before: " + joinElems(vals, ","))
	idx := make([]int, len(lines))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case utf16Less(keys[a], keys[b]):
			return -1
		case utf16Less(keys[b], keys[a]):
			return 1
		}
		return 0
	})
	sorted := make([]json.RawMessage, len(lines))
	sortedVals := make([]any, len(lines))
	for i, j := range idx {
		sorted[i], sortedVals[i] = lines[j], vals[j]
	}
	c.log("sort after: " + joinElems(sortedVals, ","))
	return map[string]any{"lines": sorted, "length": len(sorted)}, nil
}

// utilsHead returns the first num (default 1) lines: {lines, num}.
func utilsHead(c *call) (any, error) {
	num := json.RawMessage(`1`)
	if c.truthy("num") {
		num = c.params["num"]
	}
	n := toInteger(decode(num))
	if c.truthy("lines") {
		if s, ok := decode(c.params["lines"]).(string); ok { // String.prototype.slice
			u := utf16.Encode([]rune(s))
			return map[string]any{"lines": string(utf16.Decode(u[:sliceEnd(n, len(u))])), "num": num}, nil
		}
	}
	lines, err := linesOf(c, "slice")
	if err != nil {
		return nil, err
	}
	head := lines[:sliceEnd(n, len(lines))]
	c.log(fmt.Sprintf("head get first %s lines of %s: %s", jsString(decode(num)), joinElems(values(lines), ","), joinElems(values(head), ",")))
	return map[string]any{"lines": head, "num": num}, nil
}

var newlines = regexp.MustCompile(`\r?\n`)

// split splits payload by separator (a string, taken literally) or by line
// breaks: {lines, payload}.
func split(c *call) (any, error) {
	p, s, err := c.payload()
	if err != nil {
		return nil, err
	}
	var lines []string
	if c.truthy("separator") {
		lines = strings.Split(s, jsString(decode(c.params["separator"])))
	} else {
		lines = newlines.Split(s, -1)
	}
	res := map[string]any{"lines": lines, "payload": p}
	b, _ := json.Marshal(res)
	c.log("split: returning " + string(b))
	return res, nil
}

// smash nests every parameter but $fieldName under $fieldName.
func smash(c *call) (any, error) {
	parent, ok := decode(c.params["$fieldName"]).(string)
	if !ok {
		return map[string]string{"error": "Expected an argument '$fieldName' of type 'string'."}, nil
	}
	var rest []field
	for _, f := range c.order {
		if f.Key != "$fieldName" {
			rest = append(rest, f)
		}
	}
	return object([]field{{Key: parent, Value: object(rest)}}), nil
}

// date answers the current time as JSON.stringify(new Date()) does.
func date(c *call) (any, error) {
	c.log("It is now " + c.now.UTC().Format("Mon Jan 02 2006 15:04:05 GMT+0000 (Coordinated Universal Time)"))
	return map[string]string{"date": c.now.UTC().Format("2006-01-02T15:04:05.000Z")}, nil
}

// namespace answers the namespace the action runs for.
func namespace(c *call) (any, error) {
	return map[string]string{"namespace": c.env["__OW_NAMESPACE"]}, nil
}

var webExts = map[string]bool{".html": true, ".http": true, ".json": true, ".svg": true, ".text": true}

// hosturl builds the URL that invokes an action or fires a trigger, or a
// web action's URL.
func hosturl(c *call) (any, error) {
	host, ns := c.env["__OW_API_HOST"], c.env["__OW_NAMESPACE"]
	isTrue := func(k string) bool { b, _ := decode(c.params[k]).(bool); return b }
	web := isTrue("web")
	collection := "actions"
	if isTrue("trigger") {
		collection = "triggers"
	}
	base := host + "/api/v1/namespaces/" + ns + "/" + collection
	if web {
		base = host + "/api/v1/web/" + ns
	}
	path, pathIsString := decode(c.params["path"]).(string)
	ext, _ := decode(c.params["ext"]).(string)
	switch {
	case web && c.truthy("trigger"):
		return map[string]string{"error": "triggers are not allowed for web actions."}, nil
	case web && c.truthy("ext"):
		if !webExts[ext] {
			return map[string]string{"error": `extension for web action must be one of [".html", ".http", ".json", ".svg", ".text"].`}, nil
		}
	case !web && c.truthy("trigger"):
		if !pathIsString {
			if _, ok := c.get("path"); !ok {
				return nil, typeError("Cannot read properties of undefined (reading 'indexOf')")
			}
			return nil, typeError("args.path.indexOf is not a function")
		}
		if strings.Contains(path, "/") {
			return map[string]string{"error": "triggers are not allowed in packages."}, nil
		}
	}
	if !c.truthy("path") {
		return map[string]string{"url": base}, nil
	}
	if !pathIsString {
		if web {
			return nil, typeError("args.path.indexOf is not a function")
		}
		path = jsString(decode(c.params["path"]))
	}
	if web && !strings.Contains(path, "/") {
		path = "default/" + path
	}
	if !web {
		ext = ""
	}
	return map[string]string{"url": base + "/" + path + ext}, nil
}

// swiftString is how the Swift samples print a JSON value ("\(line)").
func swiftString(v any) string {
	if v == nil {
		return "<null>"
	}
	return jsString(v)
}

// arrayParam returns parameter k when it is an array.
func arrayParam(c *call, k string) ([]json.RawMessage, bool) {
	var a []json.RawMessage
	if json.Unmarshal(c.params[k], &a) != nil || a == nil {
		return nil, false
	}
	return a, true
}

// samplesCat prints each line followed by "\n" (Swift): {lines, payload}.
func samplesCat(c *call) (any, error) {
	lines, ok := arrayParam(c, "lines")
	if !ok {
		return map[string]string{"error": "You must specify a lines parameter!"}, nil
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(swiftString(decode(l)) + "\n")
	}
	return map[string]any{"lines": lines, "payload": b.String()}, nil
}

// samplesHead returns the first num lines (Swift: an integer, a number
// truncated, else 1): {lines, num}.
func samplesHead(c *call) (any, error) {
	lines, ok := arrayParam(c, "lines")
	if !ok {
		return map[string]string{"error": "You must specify a lines parameter!"}, nil
	}
	num := 1
	if f, ok := decode(c.params["num"]).(float64); ok {
		num = int(f)
	}
	if num < 0 {
		return nil, failure("num must not be negative")
	}
	return map[string]any{"lines": lines[:min(num, len(lines))], "num": num}, nil
}

// helloWorld logs a greeting and returns nothing.
func helloWorld(c *call) (any, error) {
	p, ok := c.get("payload")
	s := "undefined"
	if ok {
		s = jsString(decode(p))
	}
	c.log("hello " + s + "!")
	return map[string]any{}, nil
}

// greeting greets name (or payload) from place.
func greeting(c *call) (any, error) {
	c.log("params: " + string(object(c.order)))
	name, place := "stranger", "somewhere"
	if c.truthy("name") {
		name = jsString(decode(c.params["name"]))
	} else if c.truthy("payload") {
		name = jsString(decode(c.params["payload"]))
	}
	if c.truthy("place") {
		place = jsString(decode(c.params["place"]))
	}
	return map[string]string{"payload": "Hello, " + name + " from " + place + "!"}, nil
}

// printParams logs and returns the parameters sorted by key.
func printParams(c *call) (any, error) {
	fs := slices.Clone(c.order)
	slices.SortFunc(fs, func(a, b field) int {
		if utf16Less(a.Key, b.Key) {
			return -1
		}
		if utf16Less(b.Key, a.Key) {
			return 1
		}
		return 0
	})
	sep := ""
	for _, f := range fs {
		c.log(sep + "params." + f.Key + ": " + compact(f.Value))
		sep = " "
	}
	return map[string]json.RawMessage{"params": object(fs)}, nil
}

// countWords counts the words of s split on single spaces.
func countWords(c *call, s string) (any, error) {
	n := len(strings.Split(s, " "))
	c.log(fmt.Sprintf("The message '%s' has %d words", s, n))
	return map[string]int{"count": n}, nil
}

// wordCount counts the words of payload.toString().
func wordCount(c *call) (any, error) {
	_, s, err := c.payload()
	if err != nil {
		return nil, err
	}
	return countWords(c, s)
}

// wordCountAsync counts the words of payload, which must be a string.
func wordCountAsync(c *call) (any, error) {
	s, ok := decode(c.params["payload"]).(string)
	if !ok {
		if _, present := c.get("payload"); !present {
			return nil, typeError("Cannot read properties of undefined (reading 'split')")
		}
		return nil, typeError("str.split is not a function")
	}
	return countWords(c, s)
}

// payload returns the payload parameter and payload.toString(), or the
// TypeError node throws when payload is undefined or null.
func (c *call) payload() (json.RawMessage, string, error) {
	p, ok := c.get("payload")
	if !ok || decode(p) == nil {
		what := "undefined"
		if ok {
			what = "null"
		}
		return nil, "", typeError("Cannot read properties of " + what + " (reading 'toString')")
	}
	return p, jsString(decode(p)), nil
}
