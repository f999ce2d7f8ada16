package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/client"
)

// httpEchoAction answers with its arguments in the body, for .http.
const httpEchoAction = `
def main(args):
    return {"body": args}
`

const guestUUID = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"

// createAPI creates one operation as `wsk api create` does.
func createAPI(t *testing.T, c *client.Client, base, rel, verb, action, rt string) (*client.API, error) {
	t.Helper()
	ns, pkg := "guest", "default"
	name := action
	if p, a, ok := strings.Cut(action, "/"); ok {
		pkg, name = p, a
	}
	doc := &client.APIDoc{
		Namespace: "_", GatewayBasePath: base, GatewayPath: rel, GatewayMethod: strings.ToUpper(verb),
		ID: "API:_:" + base,
		Action: &client.APIAction{Name: action, Namespace: ns, BackendMethod: strings.ToUpper(verb),
			BackendURL: c.BaseURL() + "/api/v1/web/" + ns + "/" + pkg + "/" + name + ".http", AuthKey: "secret-not-stored"},
	}
	return c.APIs.Create(context.Background(), doc, client.APIOptions{ResponseType: rt})
}

func apiErr(t *testing.T, err error, status int, contains string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want status %d", err, status)
	}
	if e.StatusCode != status || !strings.Contains(e.Message, contains) {
		t.Errorf("error %d %q, want %d containing %q", e.StatusCode, e.Message, status, contains)
	}
}

func TestAPIGateway(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "books", httpEchoAction, map[string]any{"web-export": true}, nil)
	putPython(t, c, "other", echoAction, map[string]any{"web-export": true, "require-whisk-auth": "k3y"}, nil)

	api, err := createAPI(t, c, "/bookstore", "/books/{isbn}", "get", "books", "http")
	if err != nil {
		t.Fatal(err)
	}
	wantURL := s.URL + "/api/" + guestUUID + "/bookstore"
	if api.GwAPIURL != wantURL || !api.GwAPIActivated || api.TenantID != guestUUID {
		t.Fatalf("created: %+v", api)
	}
	var sw map[string]any
	if err := json.Unmarshal(api.APIDoc, &sw); err != nil {
		t.Fatal(err)
	}
	if sw["swagger"] != "2.0" || sw["basePath"] != "/bookstore" || strings.Contains(string(api.APIDoc), "secret-not-stored") {
		t.Errorf("swagger: %s", api.APIDoc)
	}
	op := sw["paths"].(map[string]any)["/books/{isbn}"].(map[string]any)["get"].(map[string]any)
	if op["operationId"] != "getBooksIsbn" || op["x-openwhisk"].(map[string]any)["action"] != "books" {
		t.Errorf("operation: %v", op)
	}
	// Another verb on the same path, another path for the same action,
	// and a second action with a secret.
	if _, err := createAPI(t, c, "/bookstore", "/books/{isbn}", "put", "books", "http"); err != nil {
		t.Fatal(err)
	}
	if _, err := createAPI(t, c, "/bookstore", "/books", "post", "books", "json"); err != nil {
		t.Fatal(err)
	}
	if _, err := createAPI(t, c, "/bookstore", "/books/new", "get", "other", "json"); err != nil {
		t.Fatal(err)
	}

	r := doWeb(t, "GET", wantURL+"/books/978-3?x=1", nil, nil)
	m := r.json(t)
	if r.status != 200 || m["isbn"] != "978-3" || m["x"] != "1" || m["__ow_path"] != "/books/978-3" || m["__ow_method"] != "get" {
		t.Errorf("GET path param: %d %v", r.status, m)
	}
	r = doWeb(t, "PUT", wantURL+"/books/42", []byte(`{"title":"t"}`), map[string]string{"Content-Type": "application/json"})
	if m := r.json(t); r.status != 200 || m["isbn"] != "42" || m["title"] != "t" {
		t.Errorf("PUT: %d %v", r.status, m)
	}
	r = doWeb(t, "POST", wantURL+"/books", []byte(`{"title":"t"}`), map[string]string{"Content-Type": "application/json"})
	// The json response type answers with the whole result.
	if m, _ := r.json(t)["body"].(map[string]any); r.status != 200 || m["title"] != "t" || m["__ow_path"] != "" {
		t.Errorf("POST json: %d %v", r.status, m)
	}
	// The literal path wins over the template; the gateway presents the
	// action's secret.
	r = doWeb(t, "GET", wantURL+"/books/new", nil, nil)
	if m := r.json(t); r.status != 200 || m["isbn"] != nil {
		t.Errorf("literal path: %d %v", r.status, m)
	}
	if r := doWeb(t, "DELETE", wantURL+"/books/42", nil, nil); r.status != 405 || r.header.Get("Allow") != "GET, PUT" {
		t.Errorf("DELETE: %d %v %s", r.status, r.header, r.body)
	}
	if r := doWeb(t, "GET", wantURL+"/nothing", nil, nil); r.status != 404 {
		t.Errorf("unknown path: %d", r.status)
	}
	// The namespace's name is a tenant too.
	if r := doWeb(t, "POST", s.URL+"/api/guest/bookstore/books", []byte(`{}`), map[string]string{"Content-Type": "application/json"}); r.status != 200 {
		t.Errorf("by namespace: %d %s", r.status, r.body)
	}

	// List, get by base path and by name.
	list, err := c.APIs.List(context.Background(), client.APIOptions{})
	if err != nil || len(list) != 1 || list[0].Value.GwAPIURL != wantURL || list[0].ID != "API:guest:/bookstore" {
		t.Fatalf("list: %v %+v", err, list)
	}
	for _, key := range []string{"/bookstore", "/nope"} {
		got, err := c.APIs.List(context.Background(), client.APIOptions{BasePath: key})
		if err != nil || (key == "/bookstore") != (len(got) == 1) {
			t.Errorf("get %s: %v %+v", key, err, got)
		}
	}

	// Delete one operation, then a path, then the API.
	if err := c.APIs.Delete(context.Background(), client.APIOptions{BasePath: "/bookstore", RelPath: "/books/{isbn}", Operation: "PUT"}); err != nil {
		t.Fatal(err)
	}
	if r := doWeb(t, "PUT", wantURL+"/books/42", nil, nil); r.status != 405 {
		t.Errorf("deleted PUT: %d", r.status)
	}
	if r := doWeb(t, "GET", wantURL+"/books/42", nil, nil); r.status != 200 {
		t.Errorf("GET after PUT deleted: %d", r.status)
	}
	if err := c.APIs.Delete(context.Background(), client.APIOptions{BasePath: "/bookstore", RelPath: "/books"}); err != nil {
		t.Fatal(err)
	}
	if err := c.APIs.Delete(context.Background(), client.APIOptions{BasePath: "/bookstore"}); err != nil {
		t.Fatal(err)
	}
	if r := doWeb(t, "GET", wantURL+"/books/42", nil, nil); r.status != 404 {
		t.Errorf("after delete: %d", r.status)
	}
	apiErr(t, c.APIs.Delete(context.Background(), client.APIOptions{BasePath: "/bookstore"}), 502, "API deletion failure: API '/bookstore' does not exist.")
}

func TestAPIGatewayBadInput(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "web", echoAction, map[string]any{"web-export": true}, nil)
	putPython(t, c, "plain", echoAction, nil, nil)
	ctx := context.Background()

	_, err := createAPI(t, c, "/x", "/a", "get", "missing", "json")
	apiErr(t, err, 502, "Action '/guest/missing' does not exist.")
	_, err = createAPI(t, c, "/x", "/a/{id}", "get", "web", "json")
	apiErr(t, err, 502, "A response type of 'http' is required when using path parameters.")
	_, err = createAPI(t, c, "/x", "/a", "fetch", "web", "json")
	apiErr(t, err, 502, "'FETCH' is not a valid API verb.")
	_, err = createAPI(t, c, "x", "/a", "get", "web", "json")
	apiErr(t, err, 502, "must begin with '/'")

	// Overlapping base paths: /shop + /items and / + /shop/items answer
	// the same requests.
	if _, err := createAPI(t, c, "/shop", "/items", "get", "web", "json"); err != nil {
		t.Fatal(err)
	}
	_, err = createAPI(t, c, "/", "/shop/items", "get", "web", "json")
	apiErr(t, err, 409, "overlaps API '/shop'")
	if _, err := createAPI(t, c, "/", "/shop/items", "post", "web", "json"); err != nil {
		t.Errorf("another verb does not overlap: %v", err)
	}

	// Malformed swagger documents.
	for _, tc := range []struct{ swagger, want string }{
		{`{"swagger":`, "not valid JSON"},
		{`{"swagger":"2.0","info":{"title":"t","version":"1"},"paths":{}}`, "missing basePath"},
		{`{"swagger":"3.0","info":{"title":"t"},"basePath":"/s","paths":{}}`, "only swagger 2.0"},
		{`{"swagger":"2.0","info":{"title":"t"},"basePath":"/s","paths":{"/p":{"get":{"operationId":"g"}}}}`, "names no action"},
		{`{"swagger":"2.0","info":{"title":"t"},"basePath":"/s","paths":{"/p":{"get":{"x-openwhisk":{"namespace":"guest","action":"nope","url":""}}}}}`, "does not exist"},
		{`{"swagger":"2.0","info":{"title":"t"},"basePath":"/s","paths":{}}`, "defines no operations"},
	} {
		_, err := c.APIs.Create(ctx, &client.APIDoc{Namespace: "_", Swagger: tc.swagger}, client.APIOptions{})
		apiErr(t, err, 502, tc.want)
	}
	// apimgmt needs credentials.
	if r := doWeb(t, "GET", s.URL+"/api/v1/web/whisk.system/apimgmt/getApi.http", nil, nil); r.status != 401 {
		t.Errorf("anonymous getApi: %d", r.status)
	}
}

func TestAPIGatewayImportSwagger(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "web", httpEchoAction, map[string]any{"web-export": true}, nil)
	api, err := createAPI(t, c, "/orig", "/things/{id}", "get", "web", "http")
	if err != nil {
		t.Fatal(err)
	}
	// Export, rename the base path, drop x-openwhisk so that the gateway
	// reads the target from x-ibm-configuration, and import.
	var sw map[string]any
	json.Unmarshal(api.APIDoc, &sw)
	sw["basePath"] = "/copy"
	delete(sw["paths"].(map[string]any)["/things/{id}"].(map[string]any)["get"].(map[string]any), "x-openwhisk")
	b, _ := json.Marshal(sw)
	imported, err := c.APIs.Create(context.Background(), &client.APIDoc{Namespace: "_", Swagger: string(b)}, client.APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if imported.GwAPIURL != s.URL+"/api/"+guestUUID+"/copy" {
		t.Errorf("imported: %+v", imported)
	}
	r := doWeb(t, "GET", imported.GwAPIURL+"/things/7", nil, nil)
	if m := r.json(t); r.status != 200 || m["id"] != "7" || m["__ow_path"] != "/things/7" {
		t.Errorf("imported API: %d %v", r.status, m)
	}
}
