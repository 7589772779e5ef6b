# syntax=docker/dockerfile:1

# One Dockerfile, one small image per program, each a build target:
#
#   docker build --target collector -t lagwatch-collector .
#   docker build --target evaluator -t lagwatch-evaluator .
#   docker build --target demoload  -t lagwatch-demoload  .
#
# The three targets share the build stage, which compiles all three programs
# at once, so building them together compiles once. Each image holds one
# static binary on distroless (no shell, no package manager), runs as the
# unprivileged user nonroot (65532) and starts its program as ENTRYPOINT.
# Without --target the collector is built.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY pkg ./pkg
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/collector ./cmd/evaluator ./cmd/demoload
# The collector's spool directory, copied into its image owned by nonroot
# (65532): a volume mounted there starts with that owner, so the collector
# can write to it.
RUN mkdir -p /out/spool

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
USER nonroot:nonroot

FROM runtime AS demoload
COPY --from=build /out/demoload /usr/local/bin/demoload
ENTRYPOINT ["/usr/local/bin/demoload"]

FROM runtime AS evaluator
COPY --from=build /out/evaluator /usr/local/bin/evaluator
EXPOSE 9309
ENTRYPOINT ["/usr/local/bin/evaluator"]

FROM runtime AS collector
COPY --from=build --chown=65532:65532 /out/spool /var/lib/lagwatch/spool
COPY --from=build /out/collector /usr/local/bin/collector
ENV COLLECTOR_SPOOL_DIR=/var/lib/lagwatch/spool
VOLUME ["/var/lib/lagwatch/spool"]
EXPOSE 9308
ENTRYPOINT ["/usr/local/bin/collector"]
