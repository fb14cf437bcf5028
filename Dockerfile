# The tenant image from source: a static botctl FROM scratch, the same image `botctl image build` makes
# from an installed binary. This one pulls a Rust image to build in; on an engine that cannot pull, use
# `botctl image build`.
#
#   docker build -t botctl:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# A static binary needs no loader or libraries; TLS roots and time zone data are compiled in.
RUN target="$(uname -m)-unknown-linux-gnu" \
 && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" --bin botctl \
 && cp "target/$target/release/botctl" /botctl

FROM scratch
COPY --from=build /botctl /usr/local/bin/botctl
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/botctl"]
CMD ["serve"]
