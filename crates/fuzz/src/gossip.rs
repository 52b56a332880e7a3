//! Gossip message decoding (`ilion-gossip`'s codec).

/// Decodes arbitrary bytes as a gossip envelope; when they decode, the envelope must re-encode
/// to exactly the same bytes (the codec accepts canonical encodings only) and decode again to
/// the same value.
pub fn gossip_message(data: &[u8]) {
    if let Ok(env) = ilion_gossip::codec::decode(data, 1 << 20) {
        let bytes = ilion_gossip::codec::encode(&env);
        assert_eq!(bytes, data, "re-encoding differs");
        assert_eq!(
            bytes.len(),
            ilion_gossip::codec::envelope_len(&env),
            "predicted length differs"
        );
        let again =
            ilion_gossip::codec::decode(&bytes, 1 << 20).expect("re-encoded message must decode");
        assert_eq!(again, env, "round trip differs");
    }
}
