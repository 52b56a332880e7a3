//! Encoded messages of every codec version, kept in `tests/fixtures/v<version>/`: the current
//! version's files decode to the messages they were made from and re-encode to the same bytes;
//! older versions are rejected by name. The same v2 files seed the `gossip_message` fuzz target
//! (`fuzz/seeds/gossip_message/`).
//!
//! After a deliberate change of the format, rewrite the files, then copy them to the fuzz seeds:
//! `GOSSIP_BLESS_FIXTURES=1 cargo nextest run -p ilion-gossip --test fixtures` and
//! `cp crates/gossip/tests/fixtures/v2/*.bin fuzz/seeds/gossip_message/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ilion_gossip::{
    Ack, Ack2, ApplicationState, Delta, Digest, EndpointState, Envelope, Error, HeartbeatState,
    Message, Syn, VersionedValue, codec,
};

fn dir(version: u8) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("v{version}"))
}

fn ep(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn state(generation: u64, version: u64, kv: &[(ApplicationState, &str, u64)]) -> EndpointState {
    EndpointState {
        heartbeat: HeartbeatState {
            generation,
            version,
        },
        states: kv
            .iter()
            .map(|(k, v, ver)| {
                (
                    *k,
                    VersionedValue {
                        value: (*v).to_owned(),
                        version: *ver,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The messages of the current version's fixtures, by file name.
fn current() -> Vec<(&'static str, Envelope)> {
    let a = ep("10.0.0.1:7000");
    let b = ep("10.0.0.2:7000");
    let generation = 1_763_769_600;
    vec![
        (
            "syn.bin",
            Envelope {
                from: a,
                message: Message::Syn(Syn {
                    cluster_name: "Test Cluster".into(),
                    digests: vec![
                        Digest {
                            endpoint: a,
                            generation,
                            max_version: 42,
                        },
                        Digest {
                            endpoint: b,
                            generation: generation + 1,
                            max_version: 200,
                        },
                    ],
                }),
            },
        ),
        (
            "shadow_syn.bin",
            Envelope {
                from: ep("10.0.0.3:7000"),
                message: Message::Syn(Syn {
                    cluster_name: "Test Cluster".into(),
                    digests: Vec::new(),
                }),
            },
        ),
        (
            "ack.bin",
            Envelope {
                from: b,
                message: Message::Ack(Ack {
                    requests: vec![Digest {
                        endpoint: a,
                        generation,
                        max_version: 0,
                    }],
                    states: vec![Delta {
                        endpoint: b,
                        state: state(
                            generation + 1,
                            40,
                            &[
                                (ApplicationState::Status, "NORMAL", 3),
                                (ApplicationState::Tokens, "-9223372036854775808,0,42", 1),
                                (ApplicationState::Dc, "dc1", 2),
                                (ApplicationState::Rack, "rack1", 4),
                                (
                                    ApplicationState::HostId,
                                    "00000000-0000-4000-8000-000000000002",
                                    5,
                                ),
                            ],
                        ),
                        heartbeat_age_ms: 1_250,
                    }],
                }),
            },
        ),
        (
            "ack2.bin",
            Envelope {
                from: a,
                message: Message::Ack2(Ack2 {
                    states: vec![Delta {
                        endpoint: a,
                        state: state(
                            generation,
                            43,
                            &[(ApplicationState::Status, "shutdown", 43)],
                        ),
                        heartbeat_age_ms: 0,
                    }],
                }),
            },
        ),
        (
            "ack2_ipv6_empty.bin",
            Envelope {
                from: ep("[::1]:7000"),
                message: Message::Ack2(Ack2 { states: Vec::new() }),
            },
        ),
        (
            "ack_heartbeats_only.bin",
            Envelope {
                from: a,
                message: Message::Ack(Ack {
                    requests: Vec::new(),
                    states: vec![
                        Delta {
                            endpoint: ep("[fd00::7]:7001"),
                            state: state(generation, 90_000, &[]),
                            heartbeat_age_ms: 3_100,
                        },
                        Delta {
                            endpoint: b,
                            state: state(
                                generation + 1,
                                201,
                                &[(ApplicationState::Load, "123456789", 201)],
                            ),
                            heartbeat_age_ms: 17,
                        },
                    ],
                }),
            },
        ),
    ]
}

#[test]
fn every_current_fixture_decodes_to_its_message_and_re_encodes_to_the_same_bytes() {
    let bless = std::env::var_os("GOSSIP_BLESS_FIXTURES").is_some();
    let dir = dir(codec::CODEC_VERSION);
    for (name, env) in current() {
        let path = dir.join(name);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, codec::encode(&env)).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(bytes.first(), Some(&codec::CODEC_VERSION), "{name}");
        assert_eq!(codec::decode(&bytes, 64 * 1024).unwrap(), env, "{name}");
        assert_eq!(codec::encode(&env), bytes, "{name}");
    }
}

#[test]
fn messages_of_codec_version_1_are_rejected_as_an_unsupported_version() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir(1)).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert_eq!(
            codec::decode(&bytes, 64 * 1024),
            Err(Error::UnsupportedVersion { version: 1 })
        );
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} v1 fixtures");
}

#[test]
fn the_fuzz_seeds_are_the_current_fixtures() {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/gossip_message");
    for (name, _) in current() {
        let fixture = std::fs::read(dir(codec::CODEC_VERSION).join(name)).unwrap();
        let seed = std::fs::read(seeds.join(name)).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        assert_eq!(seed, fixture, "fuzz seed {name} differs from the fixture");
    }
}
