# syntax=docker/dockerfile:1
# chatbx: one static binary in an image with nothing else.
#
#   docker build -t chatbx .
#   docker run -d --name chatbx -v chatbx-data:/data \
#     -p 5222:5222 -p 5223:5223 -p 80:80 -p 443:443 \
#     -e CHATBX_DOMAIN=example.org -e CHATBX_TLS_ACME_EMAIL=admin@example.org chatbx
#   docker exec -i chatbx chatbx user add alice --data-dir /data < password.txt

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/chatbx . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatbx /usr/local/bin/chatbx
# The data directory (database, uploads, logs, admin socket) belongs to the
# unprivileged user that runs the server.
COPY --from=build --chown=10001:10001 --chmod=0700 /out/data /data
USER 10001:10001
VOLUME /data
# 5222 STARTTLS, 5223 direct TLS, 5269 federation (reserved), 80 ACME + redirect, 443 HTTPS.
# Docker lets unprivileged users bind ports below 1024 inside the container
# (net.ipv4.ip_unprivileged_port_start=0); elsewhere use the web.listen_* keys.
EXPOSE 5222 5223 5269 80 443
ENTRYPOINT ["/usr/local/bin/chatbx", "serve", "--data-dir", "/data"]
