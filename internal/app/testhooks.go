//go:build rightsize_testhooks

package app

import (
	"net/http"
	"time"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// Binaries built with -tags rightsize_testhooks (only the tests build them)
// have a slow route, so a test of the real binary can have a request in flight
// when it sends SIGTERM.
func init() {
	testRoutes = func(mux *http.ServeMux) {
		mux.HandleFunc("GET /_test/slow", func(w http.ResponseWriter, r *http.Request) {
			d, err := time.ParseDuration(r.URL.Query().Get("for"))
			if err != nil {
				httpx.Problem(w, r, http.StatusBadRequest, "for: want a duration")
				return
			}
			httpx.Logger(r.Context()).Info("test: slow request started")
			select {
			case <-time.After(d):
				httpx.Encode(w, http.StatusOK, map[string]string{"slept": d.String()})
			case <-r.Context().Done():
				httpx.Error(w, r, r.Context().Err())
			}
		})
	}
}
