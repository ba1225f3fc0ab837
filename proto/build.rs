//! Compiles `proto/scepwatch/v1/*.proto` with protox (pure Rust), so building needs nothing but
//! cargo: no system protoc. With the `grpc` feature the Ingest service's tonic client and server
//! are generated too.

use std::path::PathBuf;

const PROTOS: &[&str] = &["scepwatch/v1/events.proto", "scepwatch/v1/ingest.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    for p in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let fds = protox::compile(PROTOS, [&root])?;

    #[cfg(feature = "grpc")]
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // No `connect()` helpers: they need tonic's transport feature, which the callers
        // (collector, ingestor) enable and configure (TLS, timeouts) themselves.
        .build_transport(false)
        .compile_fds(fds)?;

    #[cfg(not(feature = "grpc"))]
    prost_build::Config::new().compile_fds(fds)?;

    Ok(())
}
