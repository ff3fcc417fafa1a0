// Command dockerfile-lint runs BuildKit's Dockerfile checks, the ones
// `docker build --check` runs, on the Dockerfiles it is given, without a
// Docker engine: it parses each file and converts every stage to a build
// graph, as the builder would. It prints each finding and exits 1 if there
// is any. From the repository root:
//
//	(cd tools/dockerfile-lint && go run . ../../Dockerfile)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint Dockerfile...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		n, err := lint(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		if n > 0 {
			failed = true
			continue
		}
		fmt.Printf("%s: no findings\n", path)
	}
	if failed {
		os.Exit(1)
	}
}

// lint prints the findings of BuildKit's checks on path and returns how
// many there were; an error is a file BuildKit cannot build at all.
func lint(path string) (int, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The builder attaches the Dockerfile's own build definition to its
	// source map; here there is none, and an empty one stands in.
	sm := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	sm.Definition = &llb.Definition{}
	opt := dockerfile2llb.ConvertOpt{SourceMap: sm, MetaResolver: offline{}}
	res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, opt)
	if err != nil {
		return 0, err
	}
	if res.Error != nil {
		return 0, fmt.Errorf("%s", res.Error.Message)
	}
	for _, w := range res.Warnings {
		line := 0
		if len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		fmt.Printf("%s:%d: %s: %s (%s)\n", path, line, w.RuleName, w.Detail, w.URL)
	}
	return len(res.Warnings), nil
}

// offline answers the builder's questions about base images without a
// registry (none is reachable in CI): each is an empty image of the platform
// asked for. The checks read the Dockerfile, not the images.
type offline struct{}

func (offline) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := map[string]any{"os": "linux", "architecture": "amd64", "rootfs": map[string]any{"type": "layers"}}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		config["os"], config["architecture"] = opt.ImageOpt.Platform.OS, opt.ImageOpt.Platform.Architecture
	}
	dt, err := json.Marshal(config)
	return ref, digest.FromBytes(dt), dt, err
}
