//! Compiles the .proto files with protox (pure Rust, no protoc needed) and generates the
//! prost messages and tonic services. The encoded descriptor set is kept for gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "berth/v1/types.proto",
    "berth/v1/system.proto",
    "berth/v1/content.proto",
    "berth/v1/images.proto",
    "berth/v1/snapshots.proto",
    "berth/v1/containers.proto",
    "berth/v1/tasks.proto",
    "berth/v1/leases.proto",
    "berth/v1/events.proto",
    "berth/v1/shim.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("berth_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
