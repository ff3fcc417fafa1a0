# syntax=docker/dockerfile:1.7@sha256:a57df69d0ea827fb7266491f2813635de6f17269be881f696fbfdf2d83dda33e
#
# The rightsize image: one static binary on distroless, run as nonroot. Every
# service and the worker run from it (the command selects), on Cloud Run, ECS
# Fargate, Azure Container Apps and in compose.yaml.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(git log -1 --format=%cI) \
#     -t REGISTRY/rightsize:TAG --push .
#
# Base images are pinned by digest, so a rebuild of the same commit gets the
# same bases; Dependabot (.github/dependabot.yml) proposes new digests. To
# check one: docker buildx imagetools inspect IMAGE:TAG.

# The build stage runs on the builder's own platform and cross-compiles for
# the target: arm64 images are built without emulation. go.mod asks for Go
# 1.26.8 and GOTOOLCHAIN=local refuses to download another, so the image's Go
# must be at least that.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm@sha256:9fdc884aacc3bec89b20ffc69f4bb369c78210e3e4f600387b5128b12c199f81 AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src

# Modules first, in BuildKit's cache: downloaded once per builder, not once
# per source edit.
RUN --mount=type=cache,target=/go/pkg/mod \
	--mount=type=bind,source=go.mod,target=go.mod \
	--mount=type=bind,source=go.sum,target=go.sum \
	go mod download

ARG TARGETOS TARGETARCH
ARG VERSION=dev REVISION="" CREATED=""
# CGO_ENABLED=0: the SQLite driver (modernc.org/sqlite) is pure Go, so the
# binary is static and runs on distroless/static. The build cache is a cache
# mount too, so a rebuild compiles only what changed.
RUN --mount=type=cache,target=/go/pkg/mod \
	--mount=type=cache,target=/root/.cache/go-build \
	--mount=type=bind,source=go.mod,target=go.mod \
	--mount=type=bind,source=go.sum,target=go.sum \
	--mount=type=bind,source=cmd,target=cmd \
	--mount=type=bind,source=internal,target=internal \
	GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X github.com/rightsize/rightsize/internal/app.Version=${VERSION} -X github.com/rightsize/rightsize/internal/app.Commit=${REVISION} -X github.com/rightsize/rightsize/internal/app.Built=${CREATED}" \
	-o /out/rightsize ./cmd/rightsize \
	&& mkdir -p /out/data
# DATA_DIR (/out/data) must exist and belong to nonroot (65532): distroless
# has no shell to create it at start-up, and / is not writable by nonroot.

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=dev REVISION="" CREATED=""
LABEL org.opencontainers.image.title="rightsize" \
	org.opencontainers.image.description="A right-sized API backend: auth, billing, orders, jobs" \
	org.opencontainers.image.source="https://github.com/rightsize/rightsize" \
	org.opencontainers.image.licenses="MIT" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${REVISION}" \
	org.opencontainers.image.created="${CREATED}"

COPY --from=build /out/rightsize /rightsize
COPY --from=build --chown=65532:65532 /out/data /data

# The default SQLite database lives in DATA_DIR. Inside a container it is lost
# with the container unless /data is a volume (docker run -v NAME:/data), and
# SQLite allows only one instance: in production set DATABASE_URL to
# PostgreSQL instead.
ENV DATA_DIR=/data

# 8080 is the API (PORT). The metrics listener (METRICS_ADDR) listens on
# 127.0.0.1:9090 by default, unreachable from outside the container, so it is
# not exposed; a deployment that sets METRICS_ADDR=0.0.0.0:9090 for a scraper
# opens it in its own network rules, never on the load balancer.
EXPOSE 8080

# For Docker and compose; Cloud Run, ECS and Container Apps use their own
# probes (deploy/). Exec form: distroless has no shell.
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
	CMD ["/rightsize", "healthcheck"]

USER nonroot:nonroot
ENTRYPOINT ["/rightsize"]
CMD ["serve"]
