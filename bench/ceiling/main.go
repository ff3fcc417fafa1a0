// Command ceiling is the reference the benchmark compares rightsize with: the
// least an HTTP server can do to answer GET /v1/me from PostgreSQL. It is
// net/http and a pgx pool, one primary-key lookup of the same users row
// rightsize reads, and the same JSON fields back; no authentication, no
// middleware, no logging. The user's id comes in the X-User-ID header.
//
// bench/run starts it; by hand:
//
//	go run ./bench/ceiling -addr 127.0.0.1:8090 -db postgres://postgres@127.0.0.1:5432/DB
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	dsn := flag.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	conns := flag.Int("conns", 10, "pool size (rightsize's DB_MAX_OPEN_CONNS default)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := pgxpool.ParseConfig(*dsn)
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = int32(*conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		qctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		// The same columns rightsize selects for GET /v1/me.
		var u struct {
			ID            string    `json:"id"`
			Email         string    `json:"email"`
			Name          string    `json:"name"`
			EmailVerified bool      `json:"email_verified"`
			CreatedAt     time.Time `json:"created_at"`
		}
		var hash string
		var verifiedAt, updatedAt *time.Time
		err := pool.QueryRow(qctx,
			`SELECT id, email, name, password_hash, email_verified_at, created_at, updated_at FROM users WHERE id = $1`,
			r.Header.Get("X-User-ID"),
		).Scan(&u.ID, &u.Email, &u.Name, &hash, &verifiedAt, &u.CreatedAt, &updatedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			http.Error(w, "no such user", http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		u.EmailVerified = verifiedAt != nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	})

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
