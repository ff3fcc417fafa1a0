package app

import (
	"slices"
	"strings"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/billing"
	"github.com/rightsize/rightsize/internal/orders"
	"github.com/rightsize/rightsize/internal/service"
)

// catalog lists every service of rightsize, in mounting order. A new
// service is one package with a service.Def, and one line here.
var catalog = []service.Def{
	auth.Def,
	billing.Def,
	orders.Def,
}

// selectServices returns the services of all named in names; nil names means
// all of them.
func selectServices(all []service.Def, names []string) ([]service.Def, error) {
	if names == nil {
		return all, nil
	}
	var picked []service.Def
	for _, name := range names {
		i := slices.IndexFunc(all, func(d service.Def) bool { return d.Name == name })
		if i < 0 {
			known := make([]string, len(all))
			for j, d := range all {
				known[j] = d.Name
			}
			if len(known) == 0 {
				return nil, usagef("SERVICES: unknown service %q: this build has no services yet", name)
			}
			return nil, usagef("SERVICES: unknown service %q: want a comma-separated list of %s", name, strings.Join(known, ", "))
		}
		picked = append(picked, all[i])
	}
	return picked, nil
}
