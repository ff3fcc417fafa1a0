package app_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/platform/openapi"
)

// operations returns the document's operations as "METHOD /path" patterns,
// each with whether it is public (security: []) and development-only.
func operations(t *testing.T, doc []byte) map[string]operation {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	ops := map[string]operation{}
	for path, item := range d.Paths {
		for method, raw := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue // parameters, summary, ...
			}
			var op map[string]any
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			dev, _ := op["x-development-only"].(bool)
			ops[strings.ToUpper(method)+" "+path] = operation{public: !openapi.Guarded(op), dev: dev}
		}
	}
	return ops
}

type operation struct{ public, dev bool }

// The document describes exactly the routes the server registers, and
// agrees with the router on which are public: every route is documented,
// every documented operation exists, and a route is public iff its
// operation says security: []. Development-only operations exist only when
// not in production.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"development", "production"} {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			if env == "production" {
				vars = map[string]string{
					"ENV":           "production",
					"CURSOR_SECRET": "k3J9vQ2xLr8TzW5mN7pB4sYcF6hD1gAe",
					"PUBLIC_URL":    "https://app.example.com",
					"PASSWORD_HASH": "m=19456,t=2,p=1", // apptest's are too cheap for production
				}
			}
			s := apptest.Start(t, vars)
			res := s.Call(t, "GET", "/openapi.json", "", nil)
			raw, _ := json.Marshal(res.Body)
			ops := operations(t, raw)

			routes := map[string]bool{} // pattern → public
			for _, r := range append(s.PlatformRoutes, s.Routes...) {
				if _, dup := routes[r.Pattern]; dup {
					t.Errorf("route %s registered twice", r.Pattern)
				}
				routes[r.Pattern] = r.Public
			}
			var undocumented, missing, publicity []string
			for p, public := range routes {
				op, ok := ops[p]
				switch {
				case !ok:
					undocumented = append(undocumented, p)
				case op.public != public:
					publicity = append(publicity, fmt.Sprintf("%s: public in the router %v, security: [] in the document %v", p, public, op.public))
				}
			}
			for p, op := range ops {
				if _, ok := routes[p]; !ok && !(op.dev && env == "production") {
					missing = append(missing, p)
				}
				if _, ok := routes[p]; ok && op.dev && env == "production" {
					t.Errorf("%s is marked x-development-only but is served in production", p)
				}
			}
			slices.Sort(undocumented)
			slices.Sort(missing)
			slices.Sort(publicity)
			if len(undocumented) > 0 {
				t.Errorf("routes the server registers that the document lacks (add them to the service's openapi.yaml):\n  %s", strings.Join(undocumented, "\n  "))
			}
			if len(missing) > 0 {
				t.Errorf("operations the document has that no route serves:\n  %s", strings.Join(missing, "\n  "))
			}
			if len(publicity) > 0 {
				t.Errorf("the router and the document disagree on which routes are public:\n  %s", strings.Join(publicity, "\n  "))
			}
			if len(routes) < 20 && env == "development" {
				t.Errorf("got %d routes (%v), want every service's", len(routes), slices.Sorted(maps.Keys(routes)))
			}
		})
	}
}

// With --services naming a subset, the document describes that subset and
// the platform, and /docs renders it.
func TestOpenAPIOfMountedServicesOnly(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, map[string]string{"SERVICES": "auth"})
	raw, _ := json.Marshal(s.Call(t, "GET", "/openapi.json", "", nil).Body)
	if ops := operations(t, raw); len(ops) == 0 {
		t.Fatal("no operations")
	}
	res, err := http.Get(s.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /docs: got %d %s, want 200 text/html", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
