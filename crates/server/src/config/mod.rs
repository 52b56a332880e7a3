//! Node configuration: `ilion.yaml`, overridden by command-line flags.
//!
//! Every field has a default chosen so that `ilion` with no arguments runs a usable single node
//! on 127.0.0.1 with its data under `./data`. Unknown keys are rejected so that a typo in a
//! config file is an error at start-up, not a silently ignored setting.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ilion_coordinator::{
    AuthConfig, Authenticator, Authorizer, ReplicationConfig, SpeculativeRetry,
};
use serde::{Deserialize, Serialize};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

/// When the commit log is forced to disk, as Cassandra's `commitlog_sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitLogSync {
    /// Acknowledge writes before they are synced; sync every `commitlog_sync_period_ms`.
    /// Fastest; a crash may lose up to one period of acknowledged writes.
    Periodic,
    /// Acknowledge a write only after a (shared, group-committed) fsync covers it.
    /// Nothing acknowledged is ever lost; each write waits for a sync.
    Batch,
}

/// Largest accepted limit on request bytes in flight: 1 TiB, more than any node's memory.
const MAX_REQUEST_DATA_IN_FLIGHT: u64 = 1 << 40;

/// Longest accepted timeout or sync period: a day. Longer values mean a setting error, and
/// deadlines computed from them must not overflow the clock.
const MAX_PERIOD_MS: u64 = 86_400_000;
/// Longest accepted hint window: 30 days (Cassandra's default is 3 hours).
const MAX_HINT_WINDOW_MS: u64 = 30 * MAX_PERIOD_MS;
/// Largest accepted frame size in MiB: a frame's length field is a signed 32-bit integer.
const MAX_FRAME_SIZE_MB: u32 = 2047;
/// Largest accepted conviction threshold: phi grows with silence, so a huge threshold means a
/// node is never marked down.
const MAX_PHI: f64 = 100.0;

/// The whole node configuration. Field docs give the default and the trade-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Name of the cluster; nodes refuse to gossip with nodes of another cluster.
    /// Default `Ilion Cluster`.
    pub cluster_name: String,
    /// Address this node listens on for node-to-node traffic and, unless
    /// `native_address` is set, for clients. Default 127.0.0.1.
    pub listen_address: IpAddr,
    /// Address clients connect to (CQL). Default: `listen_address`.
    pub native_address: Option<IpAddr>,
    /// CQL native protocol port. Default 9042.
    pub native_port: u16,
    /// Node-to-node gRPC port. Default 7000.
    pub storage_port: u16,
    /// Admin and Prometheus metrics HTTP port. Default 7199.
    pub admin_port: u16,
    /// Seed nodes contacted to join the cluster: `address` (at this node's storage port) or
    /// `address:port`. Default: this node alone.
    pub seeds: Vec<Seed>,
    /// Data center of this node. Default `datacenter1` (Cassandra's default).
    pub dc: String,
    /// Rack of this node. Default `rack1`.
    pub rack: String,
    /// Virtual nodes (tokens) this node owns. Default 16: an even spread with few ranges.
    pub num_tokens: u16,
    /// Where data, commit log and hints live. Default `./data`.
    pub data_dir: PathBuf,
    /// Commit log sync mode. Default `periodic`, as Cassandra.
    pub commitlog_sync: CommitLogSync,
    /// Sync interval in `periodic` mode. Default 10,000 ms (Cassandra's default); lower
    /// bounds what a power loss can take.
    pub commitlog_sync_period_ms: u64,
    /// How long a coordinator waits for the replicas of a one-partition read before
    /// ReadTimeout. Default 5,000 ms (Cassandra's); shorter fails faster when a replica is
    /// slow, longer rides out pauses.
    #[serde(alias = "read_request_timeout_ms")]
    pub read_request_timeout_in_ms: u64,
    /// How long a coordinator waits for write acknowledgements before WriteTimeout (replicas
    /// that did not answer get a hint). Default 2,000 ms (Cassandra's). Logged batches are
    /// replayed from the batchlog after twice this.
    #[serde(alias = "write_request_timeout_ms")]
    pub write_request_timeout_in_ms: u64,
    /// How long a coordinator waits for the replica leading a counter write (which itself
    /// waits up to `write_request_timeout_in_ms` for the other replicas) before WriteTimeout
    /// of write type COUNTER. Default 5,000 ms (Cassandra's).
    #[serde(alias = "counter_write_request_timeout_ms")]
    pub counter_write_request_timeout_in_ms: u64,
    /// How long a coordinator waits for each piece of a range read (a scan over token
    /// ranges). Default 10,000 ms (Cassandra's).
    #[serde(alias = "range_request_timeout_ms")]
    pub range_request_timeout_in_ms: u64,
    /// How long a lightweight transaction (or SERIAL read) retries while other transactions
    /// on its partition contend before WriteTimeout of type CAS (ReadTimeout for a read).
    /// Default 1,000 ms (Cassandra's).
    #[serde(alias = "cas_contention_timeout")]
    pub cas_contention_timeout_in_ms: u64,
    /// How long a coordinator waits for every replica to truncate a table. Default 60,000 ms
    /// (Cassandra's): truncation flushes and drops whole tables.
    pub truncate_request_timeout_in_ms: u64,
    /// Hints for a replica are kept this long, then dropped (repair must bring it up to date
    /// after a longer outage). Default 10,800,000 ms, 3 hours (Cassandra's).
    pub max_hint_window_in_ms: u64,
    /// When a read asks one more replica because the first are slow: `NPp` (the N-th
    /// percentile of this node's recent read latencies), `Nms` (a fixed delay), `ALWAYS` or
    /// `NONE`, as Cassandra's table option `speculative_retry`. Default `99p`.
    pub speculative_retry: String,
    /// Whether writes a replica missed are kept as hints and replayed when it is back.
    /// Default true (Cassandra's).
    pub hinted_handoff_enabled: bool,
    /// `AllowAllAuthenticator` (default: anyone connects without credentials) or
    /// `PasswordAuthenticator` (roles with bcrypt password hashes in `system_auth.roles`, over
    /// SASL PLAIN; a new cluster gets the superuser `cassandra`/`cassandra`, to change).
    /// Cassandra's full class names (`org.apache.cassandra.auth.PasswordAuthenticator`) too.
    pub authenticator: String,
    /// `AllowAllAuthorizer` (default: every client may run every statement) or
    /// `CassandraAuthorizer` (permissions granted to roles, checked on every statement; needs
    /// `PasswordAuthenticator`).
    pub authorizer: String,
    /// How long a role's granted roles and superuser status are reused before `system_auth`
    /// is read again: `2000ms` (Cassandra's default), or milliseconds under the older name
    /// `roles_validity_in_ms`. 0 reads on every check. Longer saves reads; a change made on
    /// another node takes up to this long to apply here (changes made here apply at once).
    #[serde(alias = "roles_validity_in_ms")]
    pub roles_validity: Millis,
    /// How long a role's permissions on a resource are reused (`permissions_validity`,
    /// `permissions_validity_in_ms`): as `roles_validity`, default `2000ms`.
    #[serde(alias = "permissions_validity_in_ms")]
    pub permissions_validity: Millis,
    /// Largest accepted native protocol frame, in MiB. Default 256 (Cassandra's
    /// `native_transport_max_frame_size` is 16 MiB per frame in v5, 256 MiB in v4).
    pub native_transport_max_frame_size_mb: u32,
    /// Bytes of request bodies in flight (read, not yet answered) on the whole node, as
    /// Cassandra 4.1+'s key (`64MiB`, or bytes; the 4.0 name
    /// `native_transport_max_concurrent_requests_in_bytes` is read too). A request that
    /// would go over it is answered Overloaded if its client sent THROW_ON_OVERLOAD, else its
    /// connection stops being read until the total falls (docs/native-protocol.md).
    /// Default 64 MiB: Cassandra takes a tenth of its heap; Ilion has no heap to scale by,
    /// and 64 MiB bounds what clients can make a node hold while leaving room for many
    /// concurrent large writes. Higher lets more large requests run at once on a node with
    /// memory to spare; lower protects a small node sooner, at the cost of throughput for
    /// writers of large values.
    #[serde(alias = "native_transport_max_concurrent_requests_in_bytes")]
    pub native_transport_max_request_data_in_flight: DataSize,
    /// The same limit per client IP address (Cassandra's a fortieth of its heap). Default
    /// 16 MiB: one busy client host cannot take the whole node's allowance.
    #[serde(alias = "native_transport_max_concurrent_requests_in_bytes_per_ip")]
    pub native_transport_max_request_data_in_flight_per_ip: DataSize,
    /// A read that scans more tombstones than this is logged and warns the client. Default
    /// 1,000 (Cassandra's).
    pub tombstone_warn_threshold: u64,
    /// A read that scans more tombstones than this fails with Read_failure (reason
    /// READ_TOO_MANY_TOMBSTONES) instead of using memory without bound. Default 100,000
    /// (Cassandra's).
    pub tombstone_failure_threshold: u64,
    /// Failure detector conviction threshold. Default 8 (Cassandra's): a silent node is
    /// marked down after about 20 s. 3.5 with `gossip_fanout: 3` detects in about 10 s
    /// (docs/gossip.md).
    pub phi_convict_threshold: f64,
    /// Live nodes each gossip round goes to. Default 1 (Cassandra's).
    pub gossip_fanout: usize,
    /// Whether a new node that is not a seed streams the data of the ranges it takes from
    /// their current owners before it serves them (bootstrap). Default true (Cassandra's);
    /// false joins at once with no data (for a brand-new cluster, or data restored by hand).
    pub auto_bootstrap: bool,
    /// Whether a joining node streams each range only from the node that gives it up
    /// (Cassandra's `-Dcassandra.consistent.rangemovement`, default true): when that node is
    /// down the join is refused, since another replica may miss writes only it holds. false
    /// streams such a range from another replica that is up (run a repair after the join).
    pub consistent_rangemovement: bool,
    /// The tokens a new node takes, comma-separated (as many as `num_tokens`). Default: none,
    /// the ring's balanced allocator chooses them. Ignored once the node has joined.
    pub initial_token: Option<String>,
    /// The replication factor the balanced token allocator evens ownership for. Default 3
    /// (Cassandra's `allocate_tokens_for_local_replication_factor`).
    pub allocate_tokens_for_local_replication_factor: u16,
    /// Outbound streaming throughput cap per node, in megabits per second; 0 = unthrottled.
    /// Default 200 (Cassandra's): bootstrap and decommission do not starve client traffic.
    pub stream_throughput_outbound_megabits_per_sec: u32,
    /// Continuous repair (docs/repair.md): every node repairs each range it is the first
    /// replica of, table by table, at least once per `gc_grace_seconds / 2` (and no more
    /// often than `continuous_repair_min_interval_seconds`), one range at a time, paused while
    /// a node joins or leaves. Default true.
    pub continuous_repair_enabled: bool,
    /// The shortest time between two continuous repairs of the same range, in seconds; also
    /// how long after a node first sees a range before its first continuous repair. Default
    /// 3600.
    pub continuous_repair_min_interval_seconds: u64,
    /// Continuous repair's I/O budget: the bytes its validations read and its streams move,
    /// in megabytes per second, paced range by range; 0 = unthrottled. Default 16.
    pub repair_throughput_mb_per_sec: u32,
    /// Cap on the bytes every compaction of the node writes per second, together (Cassandra's
    /// `compaction_throughput`; `compaction_throughput_mb_per_sec` in MiB/s is read too);
    /// 0 = unthrottled. Default 64MiB/s (Cassandra's): compaction leaves disk bandwidth to
    /// reads and flushes. `ilion setcompactionthroughput` changes it while the node runs.
    #[serde(alias = "compaction_throughput_mb_per_sec")]
    pub compaction_throughput: DataRate,
    /// Snapshot a table before DROP TABLE (or DROP KEYSPACE) and TRUNCATE discard its data
    /// (`<data_dir>/snapshots/dropped-<millis>-<table>`, `truncated-...`). Default true, as
    /// Cassandra: a mistaken DROP can be undone; the snapshots hold disk space until cleared
    /// (`ilion clearsnapshot`).
    pub auto_snapshot: bool,
    /// Cassandra hard-links each flushed file into `backups/`. Not built: only `false` is
    /// accepted, so a config that counts on it fails at start-up instead of keeping no backups.
    pub incremental_backups: bool,
    /// How long a joining node waits at most for the cluster to learn of it (its peers see it
    /// joining and the schema agrees) before it streams, and how long it tries to reach a
    /// seed. Default 30,000 ms (Cassandra's `-Dcassandra.ring_delay_ms`).
    pub ring_delay_ms: u64,
    /// Replace a dead node (Cassandra's `replace_address_first_boot`): this new node takes the
    /// tokens of the node that listened at this address, streams its ranges from the surviving
    /// replicas (taking writes meanwhile) and serves reads only when done. Acted on at the
    /// node's first boot only; ignored once it has joined. Default: none.
    pub replace_address_first_boot: Option<IpAddr>,
    /// TLS on the CQL port (Cassandra's `client_encryption_options`): `enabled`, `optional`
    /// (plain text accepted too), `keystore` (PEM: private key and certificate chain),
    /// `truststore` (PEM: the authorities client certificates chain to),
    /// `require_client_auth`, `accepted_protocols`. Default: off. The files are read again
    /// when they change. docs/security.md.
    pub client_encryption_options: crate::tls::EncryptionOptions,
    /// TLS between nodes (Cassandra's `server_encryption_options`): `internode_encryption:
    /// all` puts the storage port's gRPC (gossip, replica messages, streaming, admin) in TLS,
    /// with `keystore`, `truststore`, `require_client_auth` (mutual authentication),
    /// `require_endpoint_verification` and `optional`. Default `none`. docs/security.md.
    pub server_encryption_options: crate::tls::EncryptionOptions,
    /// The audit log (Cassandra 4.0's `audit_logging_options`): `enabled`, `logger`
    /// (FileAuditLogger), `audit_logs_dir` (default `<data_dir>/audit`), included/excluded
    /// keyspaces, categories and users, `max_log_size` (the file rolls there). Default off;
    /// `ilion enableauditlog` turns it on at run time. docs/security.md.
    pub audit_logging_options: crate::audit::AuditLoggingOptions,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cluster_name: "Ilion Cluster".to_owned(),
            listen_address: IpAddr::from([127, 0, 0, 1]),
            native_address: None,
            native_port: 9042,
            storage_port: 7000,
            admin_port: 7199,
            seeds: Vec::new(),
            dc: "datacenter1".to_owned(),
            rack: "rack1".to_owned(),
            num_tokens: 16,
            data_dir: PathBuf::from("./data"),
            commitlog_sync: CommitLogSync::Periodic,
            commitlog_sync_period_ms: 10_000,
            read_request_timeout_in_ms: 5_000,
            write_request_timeout_in_ms: 2_000,
            counter_write_request_timeout_in_ms: 5_000,
            range_request_timeout_in_ms: 10_000,
            cas_contention_timeout_in_ms: 1_000,
            truncate_request_timeout_in_ms: 60_000,
            max_hint_window_in_ms: 3 * 3600 * 1000,
            speculative_retry: "99p".to_owned(),
            hinted_handoff_enabled: true,
            authenticator: "AllowAllAuthenticator".to_owned(),
            authorizer: "AllowAllAuthorizer".to_owned(),
            roles_validity: Millis::from_millis(2_000),
            permissions_validity: Millis::from_millis(2_000),
            native_transport_max_frame_size_mb: 256,
            native_transport_max_request_data_in_flight: DataSize::from_mebibytes(64),
            native_transport_max_request_data_in_flight_per_ip: DataSize::from_mebibytes(16),
            tombstone_warn_threshold: 1_000,
            tombstone_failure_threshold: 100_000,
            phi_convict_threshold: 8.0,
            gossip_fanout: 1,
            auto_bootstrap: true,
            consistent_rangemovement: true,
            initial_token: None,
            allocate_tokens_for_local_replication_factor: 3,
            stream_throughput_outbound_megabits_per_sec: 200,
            continuous_repair_enabled: true,
            continuous_repair_min_interval_seconds: 3600,
            repair_throughput_mb_per_sec: 16,
            compaction_throughput: DataRate::from_mebibytes(64),
            auto_snapshot: true,
            incremental_backups: false,
            ring_delay_ms: 30_000,
            replace_address_first_boot: None,
            client_encryption_options: crate::tls::EncryptionOptions::default(),
            server_encryption_options: crate::tls::EncryptionOptions::default(),
            audit_logging_options: crate::audit::AuditLoggingOptions::default(),
        }
    }
}

impl Config {
    /// Reads a YAML file; absent keys take their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses YAML text; an empty document is the default configuration.
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text)
    }

    /// The address clients connect to.
    pub fn native_address(&self) -> IpAddr {
        self.native_address.unwrap_or(self.listen_address)
    }

    /// The seeds' gRPC endpoints, or this node alone when none are configured.
    pub fn effective_seeds(&self) -> Vec<SocketAddr> {
        if self.seeds.is_empty() {
            vec![SocketAddr::new(self.listen_address, self.storage_port)]
        } else {
            self.seeds
                .iter()
                .map(|s| SocketAddr::new(s.address, s.port.unwrap_or(self.storage_port)))
                .collect()
        }
    }

    /// The coordinator's replication timeouts and limits from these settings (call
    /// [`Config::validate`] first; an unreadable `speculative_retry` falls back to `99p`).
    pub fn replication(&self) -> ReplicationConfig {
        let write = Duration::from_millis(self.write_request_timeout_in_ms);
        ReplicationConfig {
            write_request_timeout: write,
            counter_write_request_timeout: Duration::from_millis(
                self.counter_write_request_timeout_in_ms,
            ),
            read_request_timeout: Duration::from_millis(self.read_request_timeout_in_ms),
            range_request_timeout: Duration::from_millis(self.range_request_timeout_in_ms),
            truncate_request_timeout: Duration::from_millis(self.truncate_request_timeout_in_ms),
            max_hint_window: Duration::from_millis(self.max_hint_window_in_ms),
            speculative_retry: SpeculativeRetry::parse(&self.speculative_retry)
                .unwrap_or(SpeculativeRetry::Percentile(99.0)),
            // Cassandra replays a batch its coordinator did not remove after twice the write
            // timeout: by then the coordinator has either finished it or failed.
            batchlog_replay_after: write.saturating_mul(2),
            hinted_handoff_enabled: self.hinted_handoff_enabled,
            cas_contention_timeout: Duration::from_millis(self.cas_contention_timeout_in_ms),
            ..ReplicationConfig::default()
        }
    }

    /// The coordinator's authentication and authorization settings; the setting in error
    /// and why when a name is unknown.
    pub fn auth(&self) -> Result<AuthConfig, (&'static str, &'static str)> {
        let short = |s: &str| {
            s.strip_prefix("org.apache.cassandra.auth.")
                .unwrap_or(s)
                .to_owned()
        };
        let authenticator = match short(&self.authenticator).as_str() {
            "AllowAllAuthenticator" => Authenticator::AllowAll,
            "PasswordAuthenticator" => Authenticator::Password,
            _ => {
                return Err((
                    "authenticator",
                    "must be AllowAllAuthenticator or PasswordAuthenticator",
                ));
            }
        };
        let authorizer = match short(&self.authorizer).as_str() {
            "AllowAllAuthorizer" => Authorizer::AllowAll,
            "CassandraAuthorizer" => Authorizer::Cassandra,
            _ => {
                return Err((
                    "authorizer",
                    "must be AllowAllAuthorizer or CassandraAuthorizer",
                ));
            }
        };
        Ok(AuthConfig {
            authenticator,
            authorizer,
            roles_validity: self.roles_validity.duration(),
            permissions_validity: self.permissions_validity.duration(),
        })
    }

    /// Checks the settings that serde cannot: a bad config fails here, at start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.cluster_name.trim().is_empty() {
            return invalid("cluster_name", "must not be empty");
        }
        if self.incremental_backups {
            return invalid(
                "incremental_backups",
                "incremental backups are not supported by Ilion; take snapshots (ilion snapshot) instead",
            );
        }
        if self.dc.trim().is_empty() {
            return invalid("dc", "must not be empty");
        }
        if self.rack.trim().is_empty() {
            return invalid("rack", "must not be empty");
        }
        if self.num_tokens == 0 || self.num_tokens > 1024 {
            return invalid("num_tokens", "must be between 1 and 1024");
        }
        let ports = [
            ("native_port", self.native_port),
            ("storage_port", self.storage_port),
            ("admin_port", self.admin_port),
        ];
        for (name, port) in ports {
            if port == 0 {
                return invalid(name, "must not be 0");
            }
        }
        if self.native_port == self.storage_port
            || self.native_port == self.admin_port
            || self.storage_port == self.admin_port
        {
            return invalid("native_port", "native, storage and admin ports must differ");
        }
        if self.commitlog_sync == CommitLogSync::Periodic && self.commitlog_sync_period_ms == 0 {
            return invalid(
                "commitlog_sync_period_ms",
                "must be positive in periodic mode",
            );
        }
        if self.commitlog_sync_period_ms > MAX_PERIOD_MS {
            return invalid(
                "commitlog_sync_period_ms",
                "must be at most 86400000 (a day)",
            );
        }
        for (name, ms) in [
            (
                "read_request_timeout_in_ms",
                self.read_request_timeout_in_ms,
            ),
            (
                "write_request_timeout_in_ms",
                self.write_request_timeout_in_ms,
            ),
            (
                "counter_write_request_timeout_in_ms",
                self.counter_write_request_timeout_in_ms,
            ),
            (
                "range_request_timeout_in_ms",
                self.range_request_timeout_in_ms,
            ),
            (
                "cas_contention_timeout_in_ms",
                self.cas_contention_timeout_in_ms,
            ),
            (
                "truncate_request_timeout_in_ms",
                self.truncate_request_timeout_in_ms,
            ),
            ("max_hint_window_in_ms", self.max_hint_window_in_ms),
        ] {
            if ms == 0 {
                return invalid(name, "must be positive");
            }
            if name != "max_hint_window_in_ms" && ms > MAX_PERIOD_MS {
                return invalid(name, "must be at most 86400000 (a day)");
            }
        }
        if self.max_hint_window_in_ms > MAX_HINT_WINDOW_MS {
            return invalid(
                "max_hint_window_in_ms",
                "must be at most 2592000000 (30 days)",
            );
        }
        if SpeculativeRetry::parse(&self.speculative_retry).is_none() {
            return invalid(
                "speculative_retry",
                "must be NONE, ALWAYS, a percentile such as 99p or a delay such as 50ms",
            );
        }
        if let Err(e) = self
            .client_encryption_options
            .validate("client_encryption_options")
        {
            return match e {
                crate::tls::TlsError::Invalid { setting, reason } => invalid(setting, &reason),
                other => invalid("client_encryption_options", &other.to_string()),
            };
        }
        if let Err(reason) = self.audit_logging_options.validate() {
            return invalid("audit_logging_options", &reason);
        }
        if let Err(e) = crate::tls::internode::validate(&self.server_encryption_options) {
            return match e {
                crate::tls::TlsError::Invalid { setting, reason } => invalid(setting, &reason),
                other => invalid("server_encryption_options", &other.to_string()),
            };
        }
        let auth = match self.auth() {
            Ok(a) => a,
            Err((setting, reason)) => return invalid(setting, reason),
        };
        if auth.authorizer == Authorizer::Cassandra && auth.authenticator == Authenticator::AllowAll
        {
            return invalid(
                "authorizer",
                "CassandraAuthorizer needs authenticator: PasswordAuthenticator",
            );
        }
        for (name, validity) in [
            ("roles_validity", self.roles_validity),
            ("permissions_validity", self.permissions_validity),
        ] {
            if validity.millis() > MAX_PERIOD_MS {
                return invalid(name, "must be at most 1d (86400000ms)");
            }
        }
        if self.native_transport_max_frame_size_mb == 0
            || self.native_transport_max_frame_size_mb > MAX_FRAME_SIZE_MB
        {
            return invalid(
                "native_transport_max_frame_size_mb",
                "must be between 1 and 2047 (a frame's length is a 32-bit signed integer)",
            );
        }
        for (name, size) in [
            (
                "native_transport_max_request_data_in_flight",
                self.native_transport_max_request_data_in_flight,
            ),
            (
                "native_transport_max_request_data_in_flight_per_ip",
                self.native_transport_max_request_data_in_flight_per_ip,
            ),
        ] {
            if size.bytes() == 0 {
                return invalid(name, "must be positive");
            }
            if size.bytes() > MAX_REQUEST_DATA_IN_FLIGHT {
                return invalid(name, "must be at most 1TiB");
            }
        }
        if !(self.phi_convict_threshold.is_finite()
            && self.phi_convict_threshold > 0.0
            && self.phi_convict_threshold <= MAX_PHI)
        {
            return invalid(
                "phi_convict_threshold",
                "must be a positive number of at most 100",
            );
        }
        if self.tombstone_warn_threshold == 0 {
            return invalid("tombstone_warn_threshold", "must be positive");
        }
        if self.tombstone_failure_threshold < self.tombstone_warn_threshold {
            // Name the one that was changed from its default.
            return if self.tombstone_warn_threshold != Config::default().tombstone_warn_threshold {
                invalid(
                    "tombstone_warn_threshold",
                    "must be at most tombstone_failure_threshold",
                )
            } else {
                invalid(
                    "tombstone_failure_threshold",
                    "must be at least tombstone_warn_threshold",
                )
            };
        }
        if self.gossip_fanout == 0 || self.gossip_fanout > 16 {
            return invalid("gossip_fanout", "must be between 1 and 16");
        }
        if let Err(reason) = self.initial_tokens() {
            return invalid("initial_token", &reason);
        }
        if self.allocate_tokens_for_local_replication_factor == 0 {
            return invalid(
                "allocate_tokens_for_local_replication_factor",
                "must be positive",
            );
        }
        if self.ring_delay_ms == 0 || self.ring_delay_ms > MAX_PERIOD_MS {
            return invalid("ring_delay_ms", "must be between 1 and 86400000 (a day)");
        }
        // A year at most: gc_grace_seconds / 2 bounds the period anyway.
        if !(1..=31_536_000).contains(&self.continuous_repair_min_interval_seconds) {
            return invalid(
                "continuous_repair_min_interval_seconds",
                "must be between 1 and 31536000 (a year)",
            );
        }
        Ok(())
    }

    /// The tokens of `initial_token`, if set: distinct, as many as `num_tokens` (Cassandra
    /// refuses a different count).
    pub fn initial_tokens(&self) -> Result<Option<Vec<i64>>, String> {
        let Some(text) = self
            .initial_token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        else {
            return Ok(None);
        };
        let mut tokens = Vec::new();
        for t in text.split(',') {
            let t = t.trim();
            let token: i64 = t
                .parse()
                .map_err(|_| format!("{t:?} is not a Murmur3 token (a 64-bit integer)"))?;
            if tokens.contains(&token) {
                return Err(format!("token {token} is given twice"));
            }
            tokens.push(token);
        }
        if tokens.len() != usize::from(self.num_tokens) {
            return Err(format!(
                "the number of initial tokens specified ({}) is different from num_tokens value ({})",
                tokens.len(),
                self.num_tokens
            ));
        }
        Ok(Some(tokens))
    }

    /// Whether this node is one of its seeds (seeds never bootstrap, as in Cassandra).
    pub fn is_seed(&self) -> bool {
        self.effective_seeds()
            .iter()
            .any(|s| s.ip() == self.listen_address)
    }
}

mod settings;
#[cfg(test)]
mod tests;
mod values;

pub use settings::NodeSettings;
pub use values::{DataRate, DataSize, Millis, Seed};
