package deploy

import (
	"go/version"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/rightsize/rightsize/internal/app"
)

// The Dockerfile, read by BuildKit's own parser, builds what the README and
// the deployment files promise. (BuildKit's lint rules, the checks of
// `docker build --check`, run in .ci/run through tools/dockerfile-lint.)
func TestDockerfile(t *testing.T) {
	stages := dockerfileStages(t, "../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("got %d stages, want 2 (build, then the image)", len(stages))
	}
	build, image := stages[0], stages[1]

	digest := regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	for _, s := range stages {
		if !digest.MatchString(s.BaseName) {
			t.Errorf("FROM %s: want the image pinned by digest (@sha256:…)", s.BaseName)
		}
	}

	// Cross-compiled on the builder's platform, not emulated.
	if build.Platform != "$BUILDPLATFORM" {
		t.Errorf("build stage: got --platform=%q, want $BUILDPLATFORM", build.Platform)
	}
	goBuild := runWith(t, build, "go build")
	for _, want := range []string{"GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(goBuild.cmd+" "+strings.Join(build.envs(), " "), want) {
			t.Errorf("go build: want %s", want)
		}
	}
	for _, target := range []string{"/go/pkg/mod", "/root/.cache/go-build"} {
		if !slices.Contains(goBuild.caches, target) {
			t.Errorf("go build: want a BuildKit cache mount on %s, got %v", target, goBuild.caches)
		}
	}
	for _, v := range []string{"Version=${VERSION}", "Commit=${REVISION}", "Built=${CREATED}"} {
		if !strings.Contains(goBuild.cmd, "-X github.com/rightsize/rightsize/internal/app."+v) {
			t.Errorf("go build: want -ldflags -X …/internal/app.%s (build metadata for version and /health)", v)
		}
	}
	// The toolchain in the image must be the one go.mod asks for, or newer:
	// GOTOOLCHAIN=local refuses to download one.
	goMod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	tag := regexp.MustCompile(`^golang:(\d+\.\d+\.\d+)-`).FindStringSubmatch(build.BaseName)
	if goLine == nil || tag == nil || version.Compare("go"+tag[1], "go"+string(goLine[1])) < 0 {
		t.Errorf("build image %s: want an exact golang:X.Y.Z tag no older than go.mod's go %s", build.BaseName, goLine[1])
	}

	labels := map[string]string{}
	for _, cmd := range image.Commands {
		if l, ok := cmd.(*instructions.LabelCommand); ok {
			for _, kv := range l.Labels {
				labels[kv.Key] = strings.Trim(kv.Value, `"`)
			}
		}
	}
	for key, want := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/",
		"org.opencontainers.image.version":  "${VERSION}",
		"org.opencontainers.image.revision": "${REVISION}",
		"org.opencontainers.image.created":  "${CREATED}",
	} {
		if !strings.HasPrefix(labels[key], want) {
			t.Errorf("LABEL %s: got %q, want %s…", key, labels[key], want)
		}
	}

	var user string
	var entrypoint, cmd, healthcheck, exposed []string
	for _, c := range image.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			cmd = c.CmdLine
		case *instructions.HealthCheckCommand:
			healthcheck = c.Health.Test
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		}
	}
	if !strings.HasPrefix(user, "nonroot") {
		t.Errorf("USER %q: want nonroot", user)
	}
	if !slices.Equal(entrypoint, []string{"/rightsize"}) || !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf(`ENTRYPOINT %q CMD %q: want ["/rightsize"] ["serve"], so a platform picks the command by its arguments alone`, entrypoint, cmd)
	}
	if err := app.Check(append([]string{"rightsize"}, cmd...), func(string) string { return "" }); err != nil {
		t.Errorf("CMD %q: %v", cmd, err)
	}
	// Exec form (CMD, not CMD-SHELL): distroless has no shell.
	if !slices.Equal(healthcheck, []string{"CMD", "/rightsize", "healthcheck"}) {
		t.Errorf("HEALTHCHECK %q: want CMD /rightsize healthcheck", healthcheck)
	}

	// The API port is exposed; the metrics port only if its default address
	// is reachable from outside the container.
	vars := programVars()
	if port := vars["PORT"].Default; !slices.Contains(exposed, port) {
		t.Errorf("EXPOSE %v: want PORT's default %s", exposed, port)
	}
	metricsAddr := vars["METRICS_ADDR"].Default
	metricsHost, metricsPort, _ := strings.Cut(metricsAddr, ":")
	if loopback := metricsHost == "127.0.0.1" || metricsHost == "localhost"; loopback == slices.Contains(exposed, metricsPort) {
		t.Errorf("EXPOSE %v with METRICS_ADDR's default %s: expose the metrics port if and only if it is reachable", exposed, metricsAddr)
	}
}

// stage wraps a parsed stage with what the checks ask of it.
type stage struct{ instructions.Stage }

func (s stage) envs() []string {
	var envs []string
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				envs = append(envs, kv.Key+"="+kv.Value)
			}
		}
	}
	return envs
}

type run struct {
	cmd    string
	caches []string
}

// runWith returns the stage's one RUN whose command contains s, with the
// targets of its cache mounts.
func runWith(t *testing.T, s stage, sub string) run {
	t.Helper()
	for _, c := range s.Commands {
		r, ok := c.(*instructions.RunCommand)
		if !ok || !strings.Contains(strings.Join(r.CmdLine, " "), sub) {
			continue
		}
		got := run{cmd: strings.Join(r.CmdLine, " ")}
		// The builder reads --mount flags when it expands the command; the
		// targets here are literal.
		if err := r.Expand(func(word string) (string, error) { return word, nil }); err != nil {
			t.Fatalf("RUN %s: %v", got.cmd, err)
		}
		for _, m := range instructions.GetMounts(r) {
			if m.Type == instructions.MountTypeCache {
				got.caches = append(got.caches, m.Target)
			}
		}
		return got
	}
	t.Fatalf("stage %s: no RUN with %q", s.Name, sub)
	return run{}
}

func dockerfileStages(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	stages := make([]stage, len(parsed))
	for i, s := range parsed {
		stages[i] = stage{s}
	}
	return stages
}
