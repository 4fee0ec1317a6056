# syntax=docker/dockerfile:1
#
# Image of telemetry-manager: a static binary on distroless, run as nobody.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t rancher/telemetry-manager:dev .
#
# tests/chart checks this file (static build, ldflags, final USER) and builds
# the binary the way the RUN below does, from the context .dockerignore leaves.

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
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/rancher/telemetry-manager/pkg/version.Version=${VERSION} -X github.com/rancher/telemetry-manager/pkg/version.GitCommit=${COMMIT}" \
      -o /out/telemetry-manager ./cmd/telemetry-manager

FROM ${BASE_IMAGE}
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
