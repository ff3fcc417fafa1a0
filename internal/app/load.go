package app

import (
	"fmt"

	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/service"
)

// loaded is the whole configuration: the platform's, app's own, and each
// service's of the catalog.
type loaded struct {
	platform config.Config
	own      settings
	catalog  []service.Def
	// services holds each catalog service's configuration, in catalog order.
	services []any
	// mounted are the services whose routes this process serves (SERVICES).
	mounted []service.Def
}

// sections returns every section of l, app's own first, for config.Load and
// config.Describe.
func (l *loaded) sections() []config.Section {
	return append([]config.Section{&l.own}, service.Sections(l.services...)...)
}

// load reads the configuration of the platform, of app and of every service
// of catalog, whichever are mounted: a bad value anywhere stops the program
// at start, and every process can work every service's jobs.
func load(getenv func(string) string, catalog []service.Def) (*loaded, error) {
	l := newLoaded(catalog)
	cfg, err := config.Load(getenv, l.sections()...)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}
	l.platform = cfg
	if l.mounted, err = selectServices(catalog, cfg.Services); err != nil {
		return nil, err
	}
	return l, nil
}

// newLoaded returns l with an empty configuration for each service.
func newLoaded(catalog []service.Def) *loaded {
	l := &loaded{catalog: catalog}
	for _, d := range catalog {
		l.services = append(l.services, d.NewConfig())
	}
	return l
}
