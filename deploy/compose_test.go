package deploy

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/rightsize/rightsize/internal/app"
)

// The files compose.yaml refers to, inside the containers that read them.
const (
	caddyfileInContainer     = "/etc/caddy/Caddyfile"
	prometheusConfig         = "/etc/prometheus/prometheus.yml"
	grafanaProvisioning      = "/etc/grafana/provisioning"
	rightsizeHealthcheckPath = "/rightsize"
)

// routed maps each variable of the Caddyfile's interface that lists the
// upstreams of a service to that service (the name --services takes).
var routed = map[string]string{
	"AUTH_UPSTREAMS":    "auth",
	"BILLING_UPSTREAMS": "billing",
	"API_UPSTREAMS":     "api",
}

// stack is compose.yaml as Compose itself reads it.
type stack struct {
	root    string
	project *types.Project
	// rightsize holds the services run from the image built here.
	rightsize types.Services
}

// loadStack loads compose.yaml with the Compose Specification's reference
// loader, which validates it against the Compose schema, interpolates it,
// merges its YAML anchors and resolves paths against the repository root.
// The environment it interpolates from is empty, not the test runner's, so
// the result is the same on every machine.
func loadStack(t *testing.T, file string) *stack {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: content}},
		Environment: types.Mapping{},
	})
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	s := &stack{root: root, project: project, rightsize: types.Services{}}
	for name, svc := range project.Services {
		if svc.Build != nil {
			s.rightsize[name] = svc
		}
	}
	return s
}

// args is the command line the image runs for svc: its ENTRYPOINT
// (/rightsize) and the service's command, or the image's CMD (serve).
func args(svc types.ServiceConfig) []string {
	cmd := []string(svc.Command)
	if len(cmd) == 0 {
		cmd = []string{"serve"}
	}
	return append([]string{"rightsize"}, cmd...)
}

// getenv returns svc's environment as rightsize reads it.
func getenv(svc types.ServiceConfig) func(string) string {
	return func(name string) string {
		if v := svc.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
}

// env returns the value of a variable of svc as rightsize sees it: the
// service's value, else the program's default.
func env(t *testing.T, svc types.ServiceConfig, name string) string {
	t.Helper()
	if v := getenv(svc)(name); v != "" {
		return v
	}
	if v, ok := programVars()[name]; ok {
		return v.Default
	}
	t.Fatalf("rightsize has no variable %s", name)
	return ""
}

// flagValue returns the value of --name in a rightsize command line.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = "-" + strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, true
		}
		if a == "-"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// serves returns the services svc mounts, nil for a process that serves none
// (a worker or a one-shot command).
func serves(t *testing.T, svc types.ServiceConfig) []string {
	t.Helper()
	a := args(svc)
	if a[1] != "serve" {
		return nil
	}
	list, ok := flagValue(a, "services")
	if !ok {
		list = env(t, svc, "SERVICES")
	}
	if list == "" {
		return slices.Sorted(maps.Values(routed))
	}
	return strings.Split(list, ",")
}

// longRunning reports whether svc is a rightsize process that keeps running
// (serve or worker), not a one-shot command such as migrate.
func longRunning(svc types.ServiceConfig) bool {
	cmd := args(svc)[1]
	return cmd == "serve" || cmd == "worker"
}

// hostPath returns the file in the repository that compose mounts at
// containerPath in svc, and whether one is.
func (s *stack) hostPath(svc types.ServiceConfig, containerPath string) (string, bool) {
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if rest, ok := strings.CutPrefix(containerPath, v.Target); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			return filepath.Join(v.Source, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

func hostPort(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q is not host:port: %v", addr, err)
	}
	return host, port
}

func TestCompose(t *testing.T) {
	t.Parallel()
	checkStack(t, loadStack(t, "../compose.yaml"))
}

// checkStack runs every check of compose.yaml against the program and the
// files next to it.
func checkStack(t *testing.T, s *stack) {
	t.Run("one image", func(t *testing.T) { checkOneImage(t, s) })
	t.Run("commands and environment", func(t *testing.T) { checkRightsize(t, s) })
	t.Run("images pinned", func(t *testing.T) { checkPinned(t, s) })
	t.Run("ports", func(t *testing.T) { checkPorts(t, s) })
	t.Run("caddy upstreams", func(t *testing.T) { checkCaddy(t, s) })
	t.Run("prometheus targets", func(t *testing.T) { checkPrometheus(t, s) })
	t.Run("grafana provisioning", func(t *testing.T) { checkGrafana(t, s) })
}

// Every rightsize container runs the one image, built once from the
// Dockerfile at the root.
func checkOneImage(t *testing.T, s *stack) {
	if len(s.rightsize) == 0 {
		t.Fatal("no service builds the rightsize image")
	}
	var first *types.ServiceConfig
	for _, name := range slices.Sorted(maps.Keys(s.rightsize)) {
		svc := s.rightsize[name]
		if first == nil {
			first = &svc
			if svc.Image == "" {
				t.Errorf("%s: no image name: each service would build its own copy", name)
			}
			if svc.Build.Context != s.root {
				t.Errorf("%s: build context %s, want the repository root %s", name, svc.Build.Context, s.root)
			}
			if _, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)); err != nil {
				t.Errorf("%s: Dockerfile: %v", name, err)
			}
			continue
		}
		if svc.Image != first.Image {
			t.Errorf("%s: image %q, want %q as every rightsize service", name, svc.Image, first.Image)
		}
		if svc.Build.Context != first.Build.Context || svc.Build.Dockerfile != first.Build.Dockerfile || !maps.Equal(svc.Build.Args.ToMapping(), first.Build.Args.ToMapping()) {
			t.Errorf("%s: build (%s, %s, %v) differs from %s's (%s, %s, %v)", name, svc.Build.Context, svc.Build.Dockerfile, svc.Build.Args.ToMapping(),
				first.Name, first.Build.Context, first.Build.Dockerfile, first.Build.Args.ToMapping())
		}
	}
	// A service that runs the image without building it would be pulled
	// from a registry that has no such image.
	for name, svc := range s.project.Services {
		if svc.Build == nil && svc.Image == first.Image {
			t.Errorf("%s: runs %s without its build", name, svc.Image)
		}
	}
}

// Each rightsize container starts with a command and an environment the
// program accepts, serves what the load balancer expects, is probed by its
// own healthcheck and is scrapable.
func checkRightsize(t *testing.T, s *stack) {
	known := programVars()
	servedBy := map[string][]string{}
	migrate := migrateService(s)
	var migrators, workers []string
	for name, svc := range s.rightsize {
		a := args(svc)
		if len(svc.Entrypoint) > 0 {
			t.Errorf("%s: entrypoint %q replaces the image's /rightsize", name, svc.Entrypoint)
		}
		for v := range svc.Environment {
			if _, ok := known[v]; !ok {
				t.Errorf("%s: variable %s is not one rightsize reads (rightsize help env)", name, v)
			}
		}
		if err := app.Check(a, getenv(svc)); err != nil {
			t.Errorf("%s: rightsize refuses %q with its environment: %v", name, a[1:], err)
			continue
		}
		switch {
		case a[1] == "migrate":
			migrators = append(migrators, name)
			continue
		case a[1] == "worker":
			workers = append(workers, name)
		case a[1] == "serve":
			for _, srv := range serves(t, svc) {
				servedBy[srv] = append(servedBy[srv], name)
			}
			if w, _ := flagValue(a, "worker"); w != "false" && env(t, svc, "WORKER") != "false" {
				t.Errorf("%s: serve runs the job worker too; the stack has its own worker (--worker=false)", name)
			}
		default:
			t.Errorf("%s: command %q is neither serve, worker nor migrate", name, a[1:])
			continue
		}

		if got := env(t, svc, "AUTO_MIGRATE"); got != "false" {
			t.Errorf("%s: AUTO_MIGRATE=%s, want false: the migrate service applies migrations", name, got)
		}
		if dep, ok := svc.DependsOn[migrate]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: depends_on %v, want the migrate service with condition %s", name, svc.DependsOn, types.ServiceConditionCompletedSuccessfully)
		}
		if svc.Restart == "" || svc.Restart == types.RestartPolicyNo {
			t.Errorf("%s: restart %q, want a policy that restarts it", name, svc.Restart)
		}
		if hc := svc.HealthCheck; hc == nil || hc.Disable || !slices.Equal(hc.Test, types.HealthCheckTest{"CMD", rightsizeHealthcheckPath, "healthcheck"}) &&
			!slices.Equal(hc.Test, types.HealthCheckTest{"CMD", rightsizeHealthcheckPath, "healthcheck", "/ready"}) {
			t.Errorf("%s: healthcheck %+v, want [CMD /rightsize healthcheck] (exec form: distroless has no shell)", name, hc)
		}
		if host, _ := hostPort(t, env(t, svc, "METRICS_ADDR")); host != "0.0.0.0" {
			t.Errorf("%s: METRICS_ADDR=%s listens on %s only: Prometheus cannot reach it", name, env(t, svc, "METRICS_ADDR"), host)
		}
		timeout, err := time.ParseDuration(env(t, svc, "SHUTDOWN_TIMEOUT"))
		if err != nil {
			t.Fatalf("%s: SHUTDOWN_TIMEOUT: %v", name, err)
		}
		if grace := svc.StopGracePeriod; grace == nil || time.Duration(*grace) <= timeout {
			t.Errorf("%s: stop_grace_period %v, want more than SHUTDOWN_TIMEOUT (%v): Docker kills the container when it ends", name, grace, timeout)
		}
		if got := env(t, svc, "TRUSTED_PROXY_COUNT"); got != "1" {
			t.Errorf("%s: TRUSTED_PROXY_COUNT=%s, want 1 behind Caddy", name, got)
		}
	}
	if len(migrators) != 1 {
		t.Errorf("services running migrate up: %v, want exactly one", migrators)
	}
	if len(workers) == 0 {
		t.Error("no service runs the worker: mail and other jobs would never run")
	}
	for _, srv := range slices.Sorted(maps.Values(routed)) {
		if len(servedBy[srv]) == 0 {
			t.Errorf("no compose service serves %s", srv)
		}
	}
}

// migrateService returns the name of the service that runs migrate up.
func migrateService(s *stack) string {
	for name, svc := range s.rightsize {
		if args(svc)[1] == "migrate" {
			return name
		}
	}
	return ""
}

// pinnedTag matches an image named by an exact release, X.Y.Z (or X.Y for
// PostgreSQL, whose releases have two numbers), and maybe its digest.
var pinnedTag = regexp.MustCompile(`^(postgres:[0-9]+\.[0-9]+|[a-z0-9./-]+:v?[0-9]+\.[0-9]+\.[0-9]+)(@sha256:[0-9a-f]{64})?$`)

// Every image that is pulled names an exact version.
func checkPinned(t *testing.T, s *stack) {
	pulled := 0
	for name, svc := range s.project.Services {
		if svc.Build != nil {
			continue
		}
		pulled++
		if !pinnedTag.MatchString(svc.Image) {
			t.Errorf("%s: image %q is not pinned to an exact version (name:X.Y.Z)", name, svc.Image)
		}
	}
	if pulled == 0 {
		t.Error("no service pulls an image: nothing was checked")
	}
}

// Ports are published on loopback only, and a metrics listener never.
func checkPorts(t *testing.T, s *stack) {
	for name, svc := range s.project.Services {
		for _, p := range svc.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1 only", name, p.Target, p.HostIP)
			}
			if _, ok := s.rightsize[name]; ok {
				_, metrics := hostPort(t, env(t, svc, "METRICS_ADDR"))
				if fmt.Sprint(p.Target) == metrics {
					t.Errorf("%s: publishes its metrics port %d", name, p.Target)
				}
			}
		}
	}
}

// Caddy is given, for each service, exactly the containers that serve it,
// on the port they listen on; and it listens where compose publishes.
func checkCaddy(t *testing.T, s *stack) {
	caddy, ok := s.project.Services["caddy"]
	if !ok {
		t.Fatal("no caddy service")
	}
	vars := getenv(caddy)
	for variable, srv := range routed {
		var want []string
		for name, svc := range s.rightsize {
			if longRunning(svc) && slices.Contains(serves(t, svc), srv) {
				want = append(want, name)
			}
		}
		var got []string
		for _, up := range strings.Fields(vars(variable)) {
			host, port := hostPort(t, up)
			got = append(got, host)
			svc, ok := s.rightsize[host]
			if !ok {
				t.Errorf("caddy: %s names %s, which is not a rightsize service", variable, up)
				continue
			}
			if !slices.Contains(serves(t, svc), srv) {
				t.Errorf("caddy: %s names %s, which does not serve %s (it serves %v)", variable, up, srv, serves(t, svc))
			}
			if listen := env(t, svc, "PORT"); port != listen {
				t.Errorf("caddy: %s names %s, but %s listens on port %s", variable, up, host, listen)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("caddy: %s=%q, want every container serving %s: %v", variable, vars(variable), srv, want)
		}
	}

	_, listen := hostPort(t, vars("LISTEN"))
	published := false
	for _, p := range caddy.Ports {
		published = published || fmt.Sprint(p.Target) == listen && p.Published == "8080"
	}
	if !published {
		t.Errorf("caddy: listens on %s, but compose publishes %+v; want 127.0.0.1:8080 to reach it", vars("LISTEN"), caddy.Ports)
	}

	file, ok := s.hostPath(caddy, caddyfileInContainer)
	if !ok {
		t.Fatalf("caddy: nothing mounted at %s", caddyfileInContainer)
	}
	if rel, _ := filepath.Rel(s.root, file); rel != filepath.Join("deploy", "caddy", "Caddyfile") {
		t.Errorf("caddy: mounts %s at %s, want deploy/caddy/Caddyfile", rel, caddyfileInContainer)
	}
	// Each variable the Caddyfile reads must be set here.
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	reads := regexp.MustCompile(`\{\$([A-Z0-9_]+)(:[^}]*)?\}`).FindAllSubmatch(text, -1)
	if len(reads) == 0 {
		t.Errorf("caddy: the Caddyfile reads no {$VARIABLE}; want its upstreams and address from compose")
	}
	for _, m := range reads {
		name := string(m[1])
		if _, set := caddy.Environment[name]; !set && m[2] == nil {
			t.Errorf("caddy: the Caddyfile reads {$%s}, which compose does not set", name)
		}
	}
}

// prometheusFile is the part of Prometheus's configuration the stack uses.
// Decoding is strict, so a misspelt key fails.
type prometheusFile struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// loadPrometheus returns the scrape configuration compose mounts into the
// prometheus service.
func (s *stack) loadPrometheus(t *testing.T) prometheusFile {
	t.Helper()
	prom, ok := s.project.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	file, ok := s.hostPath(prom, prometheusConfig)
	if !ok {
		t.Fatalf("prometheus: nothing mounted at %s", prometheusConfig)
	}
	var cfg prometheusFile
	decodeYAML(t, file, &cfg)
	return cfg
}

// Prometheus scrapes every running rightsize container once, at its
// metrics listener.
func checkPrometheus(t *testing.T, s *stack) {
	cfg := s.loadPrometheus(t)
	scraped := map[string]int{}
	for _, job := range cfg.ScrapeConfigs {
		if job.MetricsPath != "" && job.MetricsPath != "/metrics" {
			t.Errorf("prometheus: job %s scrapes %s, but rightsize serves /metrics", job.JobName, job.MetricsPath)
		}
		for _, sc := range job.StaticConfigs {
			for _, target := range sc.Targets {
				host, port := hostPort(t, target)
				svc, ok := s.rightsize[host]
				if !ok {
					t.Errorf("prometheus: target %s is not a rightsize service", target)
					continue
				}
				if _, metrics := hostPort(t, env(t, svc, "METRICS_ADDR")); port != metrics {
					t.Errorf("prometheus: target %s, but %s serves metrics on port %s", target, host, metrics)
				}
				if sc.Labels["service"] != host {
					t.Errorf("prometheus: target %s labelled service=%q, want %q (the dashboards filter on it)", target, sc.Labels["service"], host)
				}
				scraped[host]++
			}
		}
	}
	for name, svc := range s.rightsize {
		if longRunning(svc) && scraped[name] != 1 {
			t.Errorf("prometheus: %s scraped %d times, want once", name, scraped[name])
		}
	}
}

// grafanaDatasources and grafanaDashboards are the provisioning files the
// stack uses, decoded strictly.
type grafanaDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string         `yaml:"name"`
		UID       string         `yaml:"uid"`
		Type      string         `yaml:"type"`
		Access    string         `yaml:"access"`
		URL       string         `yaml:"url"`
		IsDefault bool           `yaml:"isDefault"`
		Editable  bool           `yaml:"editable"`
		JSONData  map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type grafanaProviders struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name              string `yaml:"name"`
		Folder            string `yaml:"folder"`
		Type              string `yaml:"type"`
		DisableDeletion   bool   `yaml:"disableDeletion"`
		AllowUIUpdates    bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSec int    `yaml:"updateIntervalSeconds"`
		Options           struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

// grafanaSetup is what Grafana is given: its datasources' uids and the
// dashboard files it loads, as paths in the repository.
type grafanaSetup struct {
	datasources map[string]bool
	dashboards  []string
}

// loadGrafana reads the provisioning compose mounts into the grafana service
// and checks that every path it names is in the repository.
func (s *stack) loadGrafana(t *testing.T) grafanaSetup {
	t.Helper()
	g, ok := s.project.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	for _, v := range g.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if _, err := os.Stat(v.Source); err != nil {
			t.Errorf("grafana: mounts %s at %s: %v", v.Source, v.Target, err)
		}
	}
	dir, ok := s.hostPath(g, grafanaProvisioning)
	if !ok {
		t.Fatalf("grafana: nothing mounted at %s", grafanaProvisioning)
	}
	setup := grafanaSetup{datasources: map[string]bool{}}

	files, _ := filepath.Glob(filepath.Join(dir, "datasources", "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("grafana: no datasource in %s", filepath.Join(dir, "datasources"))
	}
	for _, f := range files {
		var ds grafanaDatasources
		decodeYAML(t, f, &ds)
		for _, d := range ds.Datasources {
			setup.datasources[d.UID] = true
			if d.Type != "prometheus" {
				continue
			}
			host, port := hostPort(t, strings.TrimPrefix(d.URL, "http://"))
			prom, ok := s.project.Services[host]
			if !ok || !slices.ContainsFunc(prom.Ports, func(p types.ServicePortConfig) bool { return fmt.Sprint(p.Target) == port }) {
				t.Errorf("grafana: datasource %s points at %s, which is not the prometheus service's port", d.Name, d.URL)
			}
		}
	}

	files, _ = filepath.Glob(filepath.Join(dir, "dashboards", "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("grafana: no dashboard provider in %s", filepath.Join(dir, "dashboards"))
	}
	for _, f := range files {
		var p grafanaProviders
		decodeYAML(t, f, &p)
		for _, pr := range p.Providers {
			src, ok := s.hostPath(g, pr.Options.Path)
			if !ok {
				t.Errorf("grafana: provider %s loads %s, where nothing is mounted", pr.Name, pr.Options.Path)
				continue
			}
			found, _ := filepath.Glob(filepath.Join(src, "*.json"))
			if len(found) == 0 {
				t.Errorf("grafana: provider %s loads %s (%s in the repository), which holds no dashboard", pr.Name, pr.Options.Path, src)
			}
			setup.dashboards = append(setup.dashboards, found...)
		}
	}
	if len(setup.dashboards) == 0 {
		t.Fatal("grafana: no dashboard provisioned")
	}
	if home := getenv(g)("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); home != "" {
		if src, ok := s.hostPath(g, home); !ok || !slices.Contains(setup.dashboards, src) {
			t.Errorf("grafana: home dashboard %s is not a provisioned dashboard", home)
		}
	}
	return setup
}

// Grafana's provisioning is in the repository and points at what compose
// runs; each dashboard queries a provisioned datasource.
func checkGrafana(t *testing.T, s *stack) {
	setup := s.loadGrafana(t)
	for _, file := range setup.dashboards {
		d := readDashboard(t, file)
		for _, p := range d.allPanels() {
			for _, uid := range p.datasourceUIDs() {
				if !setup.datasources[uid] && !strings.HasPrefix(uid, "$") && uid != "-- Grafana --" {
					t.Errorf("%s: panel %q queries datasource %q, which is not provisioned", filepath.Base(file), p.Title, uid)
				}
			}
		}
	}
}
