# syntax=docker/dockerfile:1
# The stagesync operator image: built with the locked dependencies, run from distroless as the
# non-root user 65532 (the Helm chart's runAsUser), `stagesync run` by default.
#   docker build -t stagesync:0.1.0 .   (the version in Cargo.toml)

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and the build between image builds; the binary is copied
# out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin stagesync \
 && cp target/release/stagesync /usr/local/bin/stagesync

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/stagesync /stagesync
USER 65532:65532
ENTRYPOINT ["/stagesync"]
CMD ["run"]
