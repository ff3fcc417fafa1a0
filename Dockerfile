# The rightsize image: one static binary on distroless, run as nonroot. The
# same image deploys to Cloud Run, ECS Fargate and Azure Container Apps.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t rightsize .
#   docker run -p 8080:8080 -v rightsize-data:/data rightsize

# golang:1.26 tracks the latest 1.26.x; go.mod asks for 1.26.8 or later, and the
# image sets GOTOOLCHAIN=local, so an older 1.26 image fails rather than downloads.
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download

COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=dev
# CGO_ENABLED=0: the SQLite driver (modernc.org/sqlite) is pure Go, so the
# binary is static and runs on distroless/static.
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X github.com/rightsize/rightsize/internal/app.Version=${VERSION}" \
	-o /out/rightsize ./cmd/rightsize

# DATA_DIR must exist and belong to nonroot (65532): distroless has no shell
# to create it at start-up, and / is not writable by nonroot.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rightsize /rightsize
COPY --from=build --chown=65532:65532 /out/data /data

# The default SQLite database lives in DATA_DIR. Inside a container it is lost
# with the container unless /data is a volume (docker run -v NAME:/data), and
# SQLite allows only one instance: in production set DATABASE_URL to
# PostgreSQL instead.
ENV DATA_DIR=/data

# 8080: the API (PORT). 9090: Prometheus metrics (METRICS_ADDR), which listens
# on 127.0.0.1 unless METRICS_ADDR says otherwise; never publish it.
EXPOSE 8080 9090

# No HEALTHCHECK: distroless has no shell or curl to run one, and the
# platforms probe GET /ready themselves.
USER nonroot:nonroot
ENTRYPOINT ["/rightsize"]
CMD ["serve"]
