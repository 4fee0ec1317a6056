# syntax=docker/dockerfile:1
#
# Images of telemetry-manager and telemetry-collector: static binaries on
# distroless, run as nobody. The last stage, telemetry-manager, is the
# default target; the collector is the target "collector".
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t rancher/telemetry-manager:dev .
#   docker build --target collector --build-arg VERSION=... --build-arg COMMIT=... \
#     -t rancher/telemetry-collector:dev .
#
# tests/chart checks this file (static build, ldflags, final USER of each
# image) and builds the binaries the way the RUN below does, from the
# context .dockerignore leaves.

ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
WORKDIR /src
# Dependencies first, so that a source change reuses the module layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Both commands in one build: they share the compiled packages. The SQLite
# driver of the collector is pure Go, so CGO_ENABLED=0 holds for both.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/rancher/telemetry-manager/pkg/version.Version=${VERSION} -X github.com/rancher/telemetry-manager/pkg/version.GitCommit=${COMMIT}" \
      -o /out/ ./cmd/telemetry-manager ./cmd/telemetry-collector
# The collector's working directory, empty and owned by nobody.
RUN mkdir -p /out/data

# The collector. It keeps no state in the image: the chart mounts the
# SQLite volume and passes --database=sqlite:/var/lib/telemetry-collector/...
# The working directory is that volume, writable by nobody, so the default
# --database (sqlite:telemetry-collector.db, relative) works in a bare
# `docker run` too.
FROM ${BASE_IMAGE} AS collector
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="telemetry-collector" \
      org.opencontainers.image.description="Receives the signed reports of telemetry-manager's http exporter and serves a summary of them" \
      org.opencontainers.image.source="https://github.com/rancher/telemetry-manager" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=builder /out/telemetry-collector /telemetry-collector
COPY --from=builder --chown=65534:65534 /out/data /var/lib/telemetry-collector
WORKDIR /var/lib/telemetry-collector
VOLUME /var/lib/telemetry-collector
USER 65534:65534
EXPOSE 8090
ENTRYPOINT ["/telemetry-collector"]

# The manager, the default target.
FROM ${BASE_IMAGE} AS manager
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="telemetry-manager" \
      org.opencontainers.image.description="Keeps an exact, private and auditable picture of what a Kubernetes management server manages" \
      org.opencontainers.image.source="https://github.com/rancher/telemetry-manager" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=builder /out/telemetry-manager /telemetry-manager
USER 65534:65534
ENTRYPOINT ["/telemetry-manager"]
CMD ["run"]
