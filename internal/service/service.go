// Package service is the contract between app and each of rightsize's
// services (auth, billing, api): what a service is given (Deps), what app
// asks of it once built (Service), and how the catalog names it (Def).
//
// A service package has the same shape in every case:
//
//	// Def is the auth service as app's catalog lists it.
//	var Def = service.Define("auth", migrations, New).WithOpenAPI(openapiYAML)
//
//	//go:embed openapi.yaml
//	var openapiYAML []byte
//
//	// New builds the service from its configuration and the platform.
//	func New(cfg *Config, d service.Deps) (*Service, error)
//
// where *Config is the service's own settings (a config.Section, or any
// struct if it has none), migrations holds its sqlite/ and postgres/ goose
// files, openapi.yaml describes every route it registers (an OpenAPI 3.1
// fragment of paths and components: see package openapi), and *Service
// implements [Service], usually by embedding [Defaults] and overriding what
// it has. A service never imports another: what one
// needs of another is a function type it declares in its own package, which
// app wires.
package service

import (
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/idempotency"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/resilience"
)

// Deps are the shared platform objects a service is built from. app builds
// each once and hands the same ones to every service.
type Deps struct {
	// Config is the platform's settings: PublicURL, CursorSecret,
	// TrustedProxyCount and the rest.
	Config config.Config
	DB     *database.DB
	// Jobs inserts jobs (InsertTx, in the transaction that wrote the row).
	Jobs *jobs.Client
	// Keys sign and verify access tokens.
	Keys *authn.Keys
	// Mailer sends email; only job workers should call it.
	Mailer   mail.Mailer
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Breakers records the state of every circuit breaker: pass it to
	// resilience.NewBreaker.
	Breakers *resilience.Metrics
	// Idempotency remembers Idempotency-Keys: put its Middleware on a
	// route that creates something.
	Idempotency *idempotency.Store
}

// Service is what app needs of a built service. Every method is called
// once, before the process serves or works anything.
type Service interface {
	// Routes registers the service's whole API on mux. Every route requires
	// credentials unless its pattern is in Public.
	Routes(mux httpx.Router)
	// Public lists the patterns of routes that need no credentials: those
	// that issue credentials, and webhooks that authenticate otherwise.
	Public() []string
	// Workers registers the service's job workers. Every process that works
	// jobs registers every service's workers, whichever routes it mounts,
	// so that no job waits for a process that knows its kind.
	Workers(w *river.Workers)
	// Periodic lists the service's periodic jobs.
	Periodic() []*river.PeriodicJob
}

// Defaults implements every method of Service with nothing: embed it, and
// override what the service has.
type Defaults struct{}

// Routes registers nothing.
func (Defaults) Routes(httpx.Router) {}

// Public lists nothing.
func (Defaults) Public() []string { return nil }

// Workers registers nothing.
func (Defaults) Workers(*river.Workers) {}

// Periodic lists nothing.
func (Defaults) Periodic() []*river.PeriodicJob { return nil }

// Def is one service as app's catalog lists it: its name (as in SERVICES),
// its migrations, its configuration and its constructor. Make one with
// [Define].
type Def struct {
	// Name is the service's name in SERVICES and --services.
	Name string
	// Migrations holds the service's goose files in a sqlite/ and a
	// postgres/ directory, or is nil for a service without tables.
	Migrations fs.FS
	// OpenAPI is the service's part of the OpenAPI document, in YAML: the
	// paths of every route it registers and the components they use (see
	// package openapi for the format). Set it with [Def.WithOpenAPI].
	OpenAPI []byte

	config func() any
	build  func(cfg any, d Deps) (Service, error)
}

// Define returns the Def of a service called name, whose settings are a C
// (loaded from the environment if *C is a config.Section) and which New
// builds.
func Define[C any, S Service](name string, migrations fs.FS, newService func(cfg *C, d Deps) (S, error)) Def {
	return Def{
		Name:       name,
		Migrations: migrations,
		config:     func() any { return new(C) },
		build: func(cfg any, d Deps) (Service, error) {
			c, ok := cfg.(*C)
			if !ok {
				return nil, fmt.Errorf("service %s: configuration is a %T, want a %T", name, cfg, c)
			}
			return newService(c, d)
		},
	}
}

// WithOpenAPI returns d with doc as its part of the OpenAPI document.
// app merges the parts of the mounted services into /openapi.json at
// start-up, and refuses to start if one is malformed or contradicts another.
func (d Def) WithOpenAPI(doc []byte) Def {
	d.OpenAPI = doc
	return d
}

// NewConfig returns a new, empty configuration of the service, for
// config.Load to fill if it is a config.Section (see [Sections]).
func (d Def) NewConfig() any { return d.config() }

// Build builds the service from cfg, a configuration that NewConfig made and
// config.Load filled.
func (d Def) Build(cfg any, deps Deps) (Service, error) { return d.build(cfg, deps) }

// Sections returns those of cfgs that declare variables, for config.Load
// and config.Describe.
func Sections(cfgs ...any) []config.Section {
	var out []config.Section
	for _, c := range cfgs {
		if s, ok := c.(config.Section); ok {
			out = append(out, s)
		}
	}
	return out
}
