# Multi-stage build: a static binary (no cgo: SQLite is pure Go) in a
# non-root distroless image. `make build` produces the same binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/switchboard ./cmd/switchboard \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY --from=build --chown=nonroot:nonroot /out/data /data
WORKDIR /
USER nonroot:nonroot
ENV SWITCHBOARD_LISTEN=0.0.0.0:8080 SWITCHBOARD_DATABASE_URL=/data/switchboard.db
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]
