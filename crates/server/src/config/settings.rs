//! The node's effective settings as `system_views.settings` lists them: every key of the
//! configuration with its value, nested options joined with `_` as Cassandra names them
//! (`audit_logging_options_enabled`), and the caps operator commands change while the node
//! runs read live. Passwords are left out.

use std::sync::Arc;

use super::Config;

/// The configuration's settings, and the caps that change at run time.
#[derive(Debug)]
pub struct NodeSettings {
    fixed: Vec<(String, String)>,
    compaction: Arc<ilion_lsm::Throttle>,
    stream: Arc<crate::cluster::streaming::Throttle>,
}

impl NodeSettings {
    pub fn new(
        config: &Config,
        compaction: Arc<ilion_lsm::Throttle>,
        stream: Arc<crate::cluster::streaming::Throttle>,
    ) -> NodeSettings {
        let mut fixed = Vec::new();
        if let Ok(value) = serde_yaml::to_value(config) {
            flatten("", &value, &mut fixed);
        }
        fixed.retain(|(k, _)| {
            !k.contains("password")
                && k != "compaction_throughput"
                && k != "stream_throughput_outbound_megabits_per_sec"
        });
        NodeSettings {
            fixed,
            compaction,
            stream,
        }
    }
}

/// `value`'s leaves as (name, text), names prefixed with `prefix`.
fn flatten(prefix: &str, value: &serde_yaml::Value, out: &mut Vec<(String, String)>) {
    use serde_yaml::Value as V;
    let leaf = |v: &V| -> Option<String> {
        match v {
            V::Null => None,
            V::Bool(b) => Some(b.to_string()),
            V::Number(n) => Some(n.to_string()),
            V::String(s) => Some(s.clone()),
            V::Sequence(items) => Some(
                items
                    .iter()
                    .map(|i| match i {
                        V::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            V::Mapping(_) | V::Tagged(_) => None,
        }
    };
    match value {
        V::Mapping(m) => {
            for (k, v) in m {
                let Some(k) = k.as_str() else { continue };
                let name = if prefix.is_empty() {
                    k.to_owned()
                } else {
                    format!("{prefix}_{k}")
                };
                flatten(&name, v, out);
            }
        }
        other => {
            if let Some(text) = leaf(other) {
                out.push((prefix.to_owned(), text));
            }
        }
    }
}

impl ilion_coordinator::virtual_tables::Settings for NodeSettings {
    fn settings(&self) -> Vec<(String, String)> {
        let mut all = self.fixed.clone();
        let compaction = self.compaction.rate();
        all.push((
            "compaction_throughput".to_owned(),
            super::DataRate::from_bytes_per_second(compaction).to_string(),
        ));
        all.push((
            "stream_throughput_outbound_megabits_per_sec".to_owned(),
            self.stream.rate_megabits().to_string(),
        ));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilion_coordinator::virtual_tables::Settings as _;

    #[test]
    fn settings_list_nested_keys_with_underscores_and_live_caps_and_no_passwords() {
        let mut config = Config::default();
        config.client_encryption_options.keystore_password = Some("secret".into());
        let compaction = Arc::new(ilion_lsm::Throttle::new(64 << 20));
        let stream = Arc::new(crate::cluster::streaming::Throttle::megabits(200));
        let s = NodeSettings::new(&config, compaction.clone(), stream.clone());
        let get = |name: &str| {
            s.settings()
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
        };
        assert_eq!(get("cluster_name").as_deref(), Some("Ilion Cluster"));
        assert_eq!(get("native_port").as_deref(), Some("9042"));
        assert_eq!(
            get("audit_logging_options_enabled").as_deref(),
            Some("false")
        );
        assert!(s.settings().iter().all(|(k, _)| !k.contains("password")));
        assert_eq!(get("compaction_throughput").as_deref(), Some("64MiB/s"));
        compaction.set_rate(1 << 20);
        stream.set_megabits(0);
        assert_eq!(get("compaction_throughput").as_deref(), Some("1MiB/s"));
        assert_eq!(
            get("stream_throughput_outbound_megabits_per_sec").as_deref(),
            Some("0")
        );
    }
}
