//! Tests of the configuration: defaults, validation, extreme values, the example file.

use super::*;

#[test]
fn empty_file_is_the_default_config() {
    assert_eq!(Config::from_yaml("").unwrap(), Config::default());
    Config::default().validate().unwrap();
}

#[test]
fn absent_keys_take_defaults() {
    let c = Config::from_yaml("cluster_name: prod\nnative_port: 19042\n").unwrap();
    assert_eq!(c.cluster_name, "prod");
    assert_eq!(c.native_port, 19042);
    assert_eq!(c.storage_port, 7000);
}

/// Every numeric setting, fed values from 0 to far past its type's range: each is refused
/// by YAML parsing or by `validate` naming the setting, or accepted and usable (the
/// coordinator's timeouts and a deadline computed from each). Nothing panics.
#[test]
fn extreme_values_are_refused_by_name_or_usable() {
    let keys = [
        "native_port",
        "storage_port",
        "admin_port",
        "num_tokens",
        "commitlog_sync_period_ms",
        "read_request_timeout_in_ms",
        "write_request_timeout_in_ms",
        "counter_write_request_timeout_in_ms",
        "range_request_timeout_in_ms",
        "truncate_request_timeout_in_ms",
        "max_hint_window_in_ms",
        "native_transport_max_frame_size_mb",
        "native_transport_max_request_data_in_flight",
        "native_transport_max_request_data_in_flight_per_ip",
        "phi_convict_threshold",
        "gossip_fanout",
        "tombstone_warn_threshold",
        "tombstone_failure_threshold",
        "allocate_tokens_for_local_replication_factor",
        "stream_throughput_outbound_megabits_per_sec",
        "continuous_repair_min_interval_seconds",
        "repair_throughput_mb_per_sec",
        "ring_delay_ms",
        "roles_validity",
        "permissions_validity",
    ];
    let values = [
        "0",
        "1",
        "-1",
        "65535",
        "65536",
        "4294967295",
        "18446744073709551615",
        "18446744073709551616",
        "1e300",
        "-1e300",
        ".nan",
        ".inf",
        "-.inf",
    ];
    let mut accepted = 0;
    for key in keys {
        for value in values {
            let yaml = format!("{key}: {value}\n");
            let Ok(config) = Config::from_yaml(&yaml) else {
                continue;
            };
            match config.validate() {
                Err(ConfigError::Invalid { setting, .. }) => {
                    assert_eq!(setting, key, "{yaml} refused under another name");
                }
                Err(other) => panic!("{yaml}: unexpected error {other}"),
                Ok(()) => {
                    accepted += 1;
                    assert_usable(&config, &yaml);
                }
            }
        }
    }
    assert!(
        accepted > 0,
        "no extreme value was accepted: the test checks nothing"
    );
}

/// Speculative-retry words whose numbers are out of range are refused, not a panic.
#[test]
fn extreme_speculative_retry_values_are_refused() {
    for word in [
        "1e300ms",
        "86400001ms",
        "-5ms",
        "NaNms",
        "infms",
        "1e300p",
        "0p",
        "100.5p",
        "NaNp",
    ] {
        let config = Config::from_yaml(&format!("speculative_retry: '{word}'\n")).unwrap();
        assert!(
            matches!(
                config.validate(),
                Err(ConfigError::Invalid {
                    setting: "speculative_retry",
                    ..
                })
            ),
            "{word} was not refused"
        );
    }
    for word in ["86400000ms", "0ms", "100p", "0.1p", "ALWAYS", "NONE"] {
        let config = Config::from_yaml(&format!("speculative_retry: '{word}'\n")).unwrap();
        config.validate().unwrap();
        assert_usable(&config, word);
    }
}

/// The derived settings of an accepted config: no overflow anywhere a node uses them.
fn assert_usable(config: &Config, what: &str) {
    let r = config.replication();
    let now = std::time::Instant::now();
    for d in [
        r.write_request_timeout,
        r.read_request_timeout,
        r.range_request_timeout,
        r.truncate_request_timeout,
        r.max_hint_window,
        r.batchlog_replay_after,
        Duration::from_millis(config.commitlog_sync_period_ms),
        Duration::from_millis(config.ring_delay_ms),
    ] {
        assert!(
            now.checked_add(d).is_some(),
            "{what}: {d:?} overflows a deadline"
        );
    }
    if let SpeculativeRetry::Fixed(d) = r.speculative_retry {
        assert!(now.checked_add(d).is_some(), "{what}: {d:?} overflows");
    }
    let auth = config.auth().unwrap_or_else(|e| panic!("{what}: {e:?}"));
    for d in [auth.roles_validity, auth.permissions_validity] {
        assert!(
            i64::try_from(d.as_micros()).is_ok_and(|us| us.checked_add(i64::MAX / 2).is_some()),
            "{what}: {d:?} overflows a cache expiry"
        );
    }
}

#[test]
fn unknown_key_is_rejected() {
    assert!(Config::from_yaml("clustr_name: typo\n").is_err());
}

#[test]
fn wrong_type_is_rejected() {
    assert!(Config::from_yaml("native_port: nine\n").is_err());
    assert!(Config::from_yaml("listen_address: not-an-ip\n").is_err());
}

#[test]
fn invalid_values_fail_validation_with_the_setting_named() {
    let c = Config {
        num_tokens: 0,
        ..Config::default()
    };
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("num_tokens"), "{err}");

    let c = Config {
        storage_port: 9042,
        ..Config::default()
    };
    assert!(c.validate().is_err());
}

#[test]
fn cassandra_timeout_keys_reach_the_replication_config() {
    let c = Config::from_yaml(
        "read_request_timeout_in_ms: 700\n\
         write_request_timeout_in_ms: 300\n\
         range_request_timeout_in_ms: 900\n\
         truncate_request_timeout_in_ms: 1100\n\
         max_hint_window_in_ms: 60000\n\
         speculative_retry: 25ms\n",
    )
    .unwrap();
    c.validate().unwrap();
    let r = c.replication();
    assert_eq!(r.read_request_timeout, Duration::from_millis(700));
    assert_eq!(r.write_request_timeout, Duration::from_millis(300));
    assert_eq!(r.range_request_timeout, Duration::from_millis(900));
    assert_eq!(r.truncate_request_timeout, Duration::from_millis(1100));
    assert_eq!(r.max_hint_window, Duration::from_secs(60));
    assert_eq!(
        r.speculative_retry,
        SpeculativeRetry::Fixed(Duration::from_millis(25))
    );
    assert_eq!(r.batchlog_replay_after, Duration::from_millis(600));
}

#[test]
fn the_earlier_timeout_key_names_are_still_read() {
    let c = Config::from_yaml("write_request_timeout_ms: 250\n").unwrap();
    assert_eq!(c.write_request_timeout_in_ms, 250);
}

#[test]
fn the_default_replication_config_is_cassandras() {
    let r = Config::default().replication();
    let d = ReplicationConfig::default();
    assert_eq!(r.read_request_timeout, d.read_request_timeout);
    assert_eq!(r.write_request_timeout, d.write_request_timeout);
    assert_eq!(r.range_request_timeout, d.range_request_timeout);
    assert_eq!(r.truncate_request_timeout, d.truncate_request_timeout);
    assert_eq!(r.max_hint_window, d.max_hint_window);
    assert_eq!(r.speculative_retry, d.speculative_retry);
    assert_eq!(r.batchlog_replay_after, d.batchlog_replay_after);
    assert_eq!(r.hinted_handoff_enabled, d.hinted_handoff_enabled);
}

#[test]
fn bad_timeouts_and_speculative_retry_fail_validation() {
    for yaml in [
        "write_request_timeout_in_ms: 0\n",
        "max_hint_window_in_ms: 0\n",
        "speculative_retry: sometimes\n",
    ] {
        let err = Config::from_yaml(yaml).unwrap().validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{yaml}: {err}");
    }
}

#[test]
fn initial_token_must_name_num_tokens_distinct_tokens() {
    let c = Config::from_yaml("num_tokens: 2\ninitial_token: '-5, 7'\n").unwrap();
    assert_eq!(c.initial_tokens(), Ok(Some(vec![-5, 7])));
    c.validate().unwrap();
    let c = Config::from_yaml("num_tokens: 3\ninitial_token: '-5, 7'\n").unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("different from num_tokens"), "{err}");
    let c = Config::from_yaml("num_tokens: 1\ninitial_token: 'x'\n").unwrap();
    assert!(c.validate().is_err());
    assert!(Config::default().auto_bootstrap);
}

#[test]
fn seeds_may_carry_their_own_storage_port() {
    let c = Config::from_yaml(
        "storage_port: 7000\nseeds: [127.0.0.1, '127.0.0.2:7005', '[::1]:7010']\n",
    )
    .unwrap();
    assert_eq!(
        c.effective_seeds(),
        vec![
            "127.0.0.1:7000".parse::<SocketAddr>().unwrap(),
            "127.0.0.2:7005".parse().unwrap(),
            "[::1]:7010".parse().unwrap(),
        ]
    );
    assert!(Config::from_yaml("seeds: ['127.0.0.1:port']\n").is_err());
    assert_eq!("10.0.0.1".parse::<Seed>().unwrap().to_string(), "10.0.0.1");
    assert_eq!(
        "10.0.0.1:7001".parse::<Seed>().unwrap().to_string(),
        "10.0.0.1:7001"
    );
}

#[test]
fn without_seeds_a_node_seeds_itself_at_its_storage_port() {
    let c = Config::from_yaml("listen_address: 127.0.0.5\nstorage_port: 7100\n").unwrap();
    assert_eq!(
        c.effective_seeds(),
        vec!["127.0.0.5:7100".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn request_data_in_flight_reads_cassandra_sizes_and_the_older_byte_keys() {
    let c = Config::from_yaml(
        "native_transport_max_request_data_in_flight: 128MiB\n\
         native_transport_max_request_data_in_flight_per_ip: 1024\n",
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(
        c.native_transport_max_request_data_in_flight.bytes(),
        128 << 20
    );
    assert_eq!(
        c.native_transport_max_request_data_in_flight_per_ip.bytes(),
        1024
    );
    let c = Config::from_yaml(
        "native_transport_max_concurrent_requests_in_bytes: 5000\n\
         native_transport_max_concurrent_requests_in_bytes_per_ip: '2KiB'\n",
    )
    .unwrap();
    assert_eq!(c.native_transport_max_request_data_in_flight.bytes(), 5000);
    assert_eq!(
        c.native_transport_max_request_data_in_flight_per_ip.bytes(),
        2048
    );
}

#[test]
fn data_sizes_parse_cassandra_units_and_refuse_anything_else() {
    for (text, bytes) in [
        ("0", 0),
        ("100B", 100),
        ("3KiB", 3 << 10),
        ("64MiB", 64 << 20),
        ("2GiB", 2 << 30),
        (" 7 ", 7),
    ] {
        assert_eq!(
            text.parse::<DataSize>(),
            Ok(DataSize::from_bytes(bytes)),
            "{text}"
        );
    }
    for text in [
        "",
        "MiB",
        "64mib",
        "64MB",
        "1.5MiB",
        "-1MiB",
        "64 MiB",
        "99999999999GiB",
    ] {
        assert!(text.parse::<DataSize>().is_err(), "{text} was accepted");
    }
    for size in [
        DataSize::from_bytes(0),
        DataSize::from_bytes(1000),
        DataSize::from_bytes(64 << 20),
        DataSize::from_bytes(3 << 30),
    ] {
        assert_eq!(size.to_string().parse::<DataSize>(), Ok(size));
    }
    assert_eq!(DataSize::from_bytes(64 << 20).to_string(), "64MiB");
    let err = Config::from_yaml("native_transport_max_request_data_in_flight: -1\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("native_transport_max_request_data_in_flight"),
        "{err}"
    );
}

#[test]
fn request_data_in_flight_limits_of_zero_or_past_a_tebibyte_are_refused_by_name() {
    for (yaml, key) in [
        (
            "native_transport_max_request_data_in_flight: 0B\n",
            "native_transport_max_request_data_in_flight",
        ),
        (
            "native_transport_max_request_data_in_flight_per_ip: 1025GiB\n",
            "native_transport_max_request_data_in_flight_per_ip",
        ),
    ] {
        let err = Config::from_yaml(yaml).unwrap().validate().unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { setting, .. } if setting == key),
            "{yaml}: {err}"
        );
    }
}

#[test]
fn commitlog_sync_reads_cassandra_words() {
    let c = Config::from_yaml("commitlog_sync: batch\n").unwrap();
    assert_eq!(c.commitlog_sync, CommitLogSync::Batch);
}

#[test]
fn auth_settings_read_cassandras_names_units_and_older_millisecond_keys() {
    let c = Config::from_yaml(
        "authenticator: org.apache.cassandra.auth.PasswordAuthenticator\n\
         authorizer: CassandraAuthorizer\nroles_validity: 5s\npermissions_validity_in_ms: 250\n",
    )
    .unwrap();
    c.validate().unwrap();
    let auth = c.auth().unwrap();
    assert_eq!(
        auth.authenticator,
        ilion_coordinator::Authenticator::Password
    );
    assert_eq!(auth.authorizer, ilion_coordinator::Authorizer::Cassandra);
    assert_eq!(auth.roles_validity, Duration::from_secs(5));
    assert_eq!(auth.permissions_validity, Duration::from_millis(250));
    assert_eq!(Millis::from_millis(2_000).to_string(), "2s");
    assert_eq!("1500ms".parse::<Millis>(), Ok(Millis::from_millis(1_500)));
}

#[test]
fn bad_auth_settings_are_refused_by_name() {
    for (yaml, key) in [
        ("authorizer: CassandraAuthorizer\n", "authorizer"),
        ("authorizer: SomeAuthorizer\n", "authorizer"),
        ("authenticator: LdapAuthenticator\n", "authenticator"),
        ("roles_validity: 2d\n", "roles_validity"),
        ("permissions_validity: 86400001ms\n", "permissions_validity"),
    ] {
        let err = Config::from_yaml(yaml).unwrap().validate().unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { setting, .. } if setting == key),
            "{yaml}: {err}"
        );
    }
    for yaml in [
        "roles_validity: -1\n",
        "roles_validity: 2 weeks\n",
        "permissions_validity: 99999999999999999999d\n",
    ] {
        assert!(Config::from_yaml(yaml).is_err(), "{yaml}");
    }
}

mod example_file {
    use super::*;

    #[test]
    fn the_documented_example_file_is_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ilion.example.yaml");
        let parsed = Config::from_file(&path).unwrap();
        assert_eq!(parsed, Config::default());
    }
}

#[test]
fn compaction_throughput_reads_the_new_and_the_old_key() {
    let c = Config::from_yaml("compaction_throughput: 16MiB/s\n").unwrap();
    assert_eq!(c.compaction_throughput.bytes_per_second(), 16 << 20);
    let c = Config::from_yaml("compaction_throughput_mb_per_sec: 8\n").unwrap();
    assert_eq!(c.compaction_throughput.bytes_per_second(), 8 << 20);
    assert_eq!(
        Config::default().compaction_throughput.bytes_per_second(),
        64 << 20
    );
    assert!(Config::from_yaml("compaction_throughput: fast\n").is_err());
}

#[test]
fn incremental_backups_are_refused_by_name_since_they_are_not_built() {
    let c = Config::from_yaml("incremental_backups: true\n").unwrap();
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("incremental_backups"), "{e}");
    let c = Config::from_yaml("incremental_backups: false\nauto_snapshot: false\n").unwrap();
    assert!(c.validate().is_ok());
    assert!(!c.auto_snapshot);
}
