# syntax=docker/dockerfile:1
#
# Schemata's container image: the release binary on Debian bookworm-slim, as a non-root user,
# with the SQLite store in a volume by default.
#
#   docker build -t schemata .
#   docker run -p 8081:8081 -v schemata-data:/var/lib/schemata schemata
#   docker run --rm -it -v schemata-data:/var/lib/schemata schemata user add alice --role admin
#
# Configuration is the binary's own (README "Configuration"): SCHEMATA_* variables, or a TOML
# file mounted into the container and named by SCHEMATA_CONFIG. tests/container.rs checks that
# the binary needs no library beyond what the runtime stage installs, and runs the HEALTHCHECK.

# The toolchain the test suite runs on (there is no rust-toolchain.toml): keep them in step.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
# rdkafka builds its bundled librdkafka (./configure and make) against the system's OpenSSL and
# zlib headers, found through pkg-config. The rust image has them already; naming them keeps
# the build from depending on what that image happens to carry.
# Versions are not pinned: bookworm's archive replaces a package on each security update, so a
# pinned version stops installing; the base image tag is what fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target dir live in cache mounts, so a source change rebuilds Schemata and
# not its hundreds of dependencies; the binary is copied out of the mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin schemata \
    && install -D -m 0755 target/release/schemata /out/schemata

FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="schemata" \
      org.opencontainers.image.description="A Confluent-compatible schema registry for Apache Kafka (Avro)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# What the binary links beyond libc and libgcc_s (tests/container.rs checks this list against
# `ldd`): libssl3 (OpenSSL, for librdkafka's TLS and SCRAM to brokers) and zlib1g (librdkafka's
# compression). ca-certificates: the system CAs librdkafka verifies brokers with by default.
# Not pinned, for the reason given in the build stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so a host directory or volume can be given to it ahead of time.
RUN groupadd --system --gid 10001 schemata \
    && useradd --system --uid 10001 --gid schemata --home-dir /var/lib/schemata \
        --no-create-home --shell /usr/sbin/nologin schemata \
    && install -d -o schemata -g schemata -m 0750 /var/lib/schemata

COPY --from=build /out/schemata /usr/local/bin/schemata

# The defaults need no variable: `listen` is 0.0.0.0:8081, and the SQLite store (the default)
# is ./schemata.db, in the volume because the working directory is. For Kafka set
# SCHEMATA_STORE=kafka://HOST:PORT/_schemas (the volume then stays empty). No ENV here on
# purpose: a SCHEMATA_* variable set by the image would override a mounted config file's
# `store` or `listen` (file < environment < flags).
VOLUME ["/var/lib/schemata"]
WORKDIR /var/lib/schemata
USER 10001:10001
EXPOSE 8081

# /health answers 200 once start-up has replayed the store (a connection made earlier waits),
# so start-period covers a long replay or a Kafka cluster that is slow to come up. The image
# has no curl: bash's /dev/tcp speaks plain HTTP to the port SCHEMATA_LISTEN names. With TLS
# on (tls_cert/tls_key), or a listen address other than a wildcard or loopback, override this
# check, e.g. in docker-compose's `healthcheck:`.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "l=${SCHEMATA_LISTEN:-:8081}; exec 3<>/dev/tcp/127.0.0.1/${l##*:} && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]

# `serve` reads SCHEMATA_* from the environment; other commands run as arguments
# (`docker run … schemata user list`).
ENTRYPOINT ["schemata"]
CMD ["serve"]
