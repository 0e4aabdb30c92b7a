# The Fargate image: the engage host with the shared libraries it links (glibc, libm, libgcc_s
# and the loader, at the paths the binary asks for) and every plugin component precompiled for
# that host's engine, so a task starts without Cranelift.
# No base image: scripts/build-image.sh builds the binary and the components, precompiles
# them with the same binary and stages everything under target/image/, the build context:
#
#   scripts/build-image.sh            # then: podman run --rm --read-only engage:latest --version
FROM scratch

COPY libs/ /
COPY engage /usr/local/bin/engage
COPY plugins/ /opt/engage/plugins/
COPY cache/ /opt/engage/cache/
COPY pipelines/ /opt/engage/pipelines/
COPY config/ /opt/engage/config/
COPY etc/passwd etc/group /etc/
COPY etc/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# Precompiled components are read from the image; runs write only under /tmp
# (a tmpfs with `--read-only`, a volume on Fargate with readonlyRootFilesystem).
ENV ENGAGE_PLUGIN_DIR=/opt/engage/plugins \
    ENGAGE_CACHE_DIR=/opt/engage/cache \
    ENGAGE_ROOT=/tmp/engage-data \
    ENGAGE_LOG_FORMAT=json \
    HOME=/tmp \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/engage"]
CMD ["--help"]
