//! Generates the node-to-node gRPC code from `proto/ilion.proto` with a vendored `protoc`, so
//! the build needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../../proto/ilion.proto";
    println!("cargo:rerun-if-changed={proto}");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Payloads as `bytes::Bytes`: replica messages pass through without a copy.
    config.bytes(["."]);
    tonic_prost_build::configure().compile_with_config(config, &[proto], &["../../proto"])?;
    Ok(())
}
