# syntax=docker/dockerfile:1
# chatbx: one static binary and the CA roots in an image with nothing else.
#
#   docker build -t chatbx .
#   docker run -d --name chatbx --stop-timeout 30 -v chatbx-data:/data \
#     -p 5222:5222 -p 5223:5223 -p 5269:5269 -p 5270:5270 -p 80:80 -p 443:443 \
#     -e CHATBX_DOMAIN=example.org -e CHATBX_TLS_ACME_EMAIL=admin@example.org chatbx
#   docker exec -i chatbx chatbx user add alice < password.txt
#
# contrib/contrib_test.go builds the binary with this file's ENV and
# `go build` lines, checks that it is static, and runs it as uid 10001
# with a data directory like /data (CI has no Docker engine). Keep the
# build in a single `go build` RUN line without shell operators.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN go build -trimpath -ldflags="-s -w" -o /out/chatbx .
RUN mkdir -p /out/data

FROM scratch
# Go reads the CA roots from this path (ACME and, later, federation).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/chatbx /usr/local/bin/chatbx
# The data directory (database, uploads, logs, admin socket) belongs to the
# unprivileged user that runs the server.
COPY --from=build --chown=10001:10001 --chmod=0700 /out/data /data
ENV PATH=/usr/local/bin CHATBX_DATA_DIR=/data
USER 10001:10001
VOLUME /data
# 5222 STARTTLS, 5223 direct TLS, 5269/5270 federation (STARTTLS/direct TLS), 80 ACME + redirect, 443 HTTPS.
# Docker lets unprivileged users bind ports below 1024 inside the container
# (net.ipv4.ip_unprivileged_port_start=0); elsewhere use the web.listen_* keys.
EXPOSE 5222 5223 5269 5270 80 443
# SIGTERM shuts down gracefully; give it more than Docker's default 10 s
# (docker run --stop-timeout 30, or stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chatbx"]
CMD ["serve"]
