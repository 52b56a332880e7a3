//! Generates the replica messages' Rust types from `proto/replica.proto` with a vendored
//! `protoc`, so the wire format has one source and the build needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../../proto/replica.proto";
    println!("cargo:rerun-if-changed={proto}");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.compile_protos(&[proto], &["../../proto"])?;
    Ok(())
}
