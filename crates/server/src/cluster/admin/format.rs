//! The operator commands' text, as `nodetool` prints it: `status`, `ring`, `describering`,
//! `info` and `netstats`. Pure functions of the node's answers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::cluster::proto::{
    DescribeRingResponse, InfoResponse, MemberStatus as ProtoMember, NetstatsResponse,
    RingResponse, StatusResponse,
};
/// `nodetool netstats`'s text: the mode, then each stream with its bytes, rate and state.
pub fn format_netstats(n: &NetstatsResponse) -> String {
    let mut out = format!("Mode: {}\n", n.mode);
    if n.streams.is_empty() {
        out.push_str("Not sending any streams.\n");
        return out;
    }
    for s in &n.streams {
        #[allow(clippy::cast_precision_loss)]
        let rate = if s.elapsed_ms == 0 {
            0.0
        } else {
            s.bytes as f64 / (s.elapsed_ms as f64 / 1000.0)
        };
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "    {} {} {}.{}: {} ({} partitions) in {:.1} s, {}/s, {}",
            s.direction,
            if s.direction == "receiving" {
                format!("from {}", s.peer)
            } else {
                format!("to {}", s.peer)
            },
            s.keyspace,
            s.table,
            human_size(s.bytes as f64),
            s.partitions,
            s.elapsed_ms as f64 / 1000.0,
            human_size(rate),
            s.state
        );
    }
    out
}

/// A size as Cassandra prints loads (`70.73 KiB`).
pub(crate) fn human_size(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("bytes");
    if unit == 0 {
        format!("{value:.0} {name}")
    } else {
        format!("{value:.2} {name}")
    }
}

/// The share of the token ring each member owns (the ranges ending at its tokens).
fn ownership(members: &[ProtoMember]) -> BTreeMap<String, f64> {
    let mut ring: Vec<(i64, &str)> = members
        .iter()
        .filter(|m| m.status != "LEFT")
        .flat_map(|m| m.tokens.iter().map(move |t| (*t, m.address.as_str())))
        .collect();
    ring.sort_unstable();
    let mut out = BTreeMap::new();
    let n = ring.len();
    for (i, (token, owner)) in ring.iter().enumerate() {
        let previous = if i == 0 {
            ring.get(n - 1)
        } else {
            ring.get(i - 1)
        };
        let Some((prev, _)) = previous else { continue };
        // Range (prev, token] on the ring of 2^64 tokens; one token alone owns it all.
        let width = (*token as u64).wrapping_sub(*prev as u64);
        #[allow(clippy::cast_precision_loss)]
        let share = if n == 1 {
            1.0
        } else {
            width as f64 / 18_446_744_073_709_551_616.0
        };
        *out.entry((*owner).to_owned()).or_insert(0.0) += share;
    }
    out
}

/// `nodetool status`'s text for a node's answer: per data center a header, the legend, and
/// one line per member (`UN` = up and normal, `DN` = down and normal, ...).
pub fn format_status(status: &StatusResponse) -> String {
    let owns = ownership(&status.members);
    let mut by_dc: BTreeMap<&str, Vec<&ProtoMember>> = BTreeMap::new();
    // Nodes that left the ring are not listed (as nodetool status).
    for m in status.members.iter().filter(|m| m.status != "LEFT") {
        by_dc.entry(m.data_center.as_str()).or_default().push(m);
    }
    let mut out = String::new();
    for (dc, mut members) in by_dc {
        members.sort_by(|a, b| a.address.cmp(&b.address));
        let header = format!("Datacenter: {dc}");
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "{}", "=".repeat(header.len()));
        let _ = writeln!(out, "Status=Up/Down");
        let _ = writeln!(out, "|/ State=Normal/Leaving/Joining/Moving");
        let rows: Vec<[String; 7]> = members
            .iter()
            .map(|m| {
                let state = match m.status.as_str() {
                    "JOINING" => 'J',
                    "LEAVING" => 'L',
                    _ => 'N',
                };
                [
                    format!("{}{state}", if m.up { 'U' } else { 'D' }),
                    m.address.clone(),
                    human_size(m.load),
                    m.tokens.len().to_string(),
                    owns.get(&m.address)
                        .map_or("?".to_owned(), |o| format!("{:.1}%", o * 100.0)),
                    m.host_id.clone(),
                    m.rack.clone(),
                ]
            })
            .collect();
        let head =
            ["--", "Address", "Load", "Tokens", "Owns", "Host ID", "Rack"].map(str::to_owned);
        let mut widths = head.clone().map(|h| h.len());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.len());
            }
        }
        for r in std::iter::once(&head).chain(rows.iter()) {
            let mut line = String::new();
            for (i, (c, w)) in r.iter().zip(widths.iter()).enumerate() {
                if i + 1 == r.len() {
                    line.push_str(c);
                } else {
                    let _ = write!(line, "{c:<w$}  ");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
    }
    out
}

/// A member's address as Cassandra names an endpoint with its port (`127.0.0.1:7000`).
fn address_and_port(m: &ProtoMember) -> String {
    match m.address.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, u16::try_from(m.storage_port).unwrap_or(0)).to_string(),
        Err(_) => format!("{}:{}", m.address, m.storage_port),
    }
}

/// nodetool's state words.
fn state_word(status: &str) -> &'static str {
    match status {
        "JOINING" => "Joining",
        "LEAVING" => "Leaving",
        _ => "Normal",
    }
}

/// One line of `nodetool ring`'s table: the address padded to the longest `address:port` of
/// the ring (nodetool measures the endpoints with their port, prints them without), then
/// fixed columns.
fn ring_line(out: &mut String, width: usize, cols: [&str; 7]) {
    let [address, rack, status, state, load, owns, token] = cols;
    let _ = writeln!(
        out,
        "{address:<width$}  {rack:<12}{status:<7}{state:<8}{load:<16}{owns:<20}{token:<44}"
    );
}

/// `nodetool ring`'s text: per datacenter a header and one line per token, sorted by token,
/// after a line holding the datacenter's last token (where the first range starts); the vnode
/// warning; nodetool's note when ownership is not the keyspace's effective ownership.
pub fn format_ring(ring: &RingResponse) -> String {
    let members: Vec<&ProtoMember> = ring
        .members
        .iter()
        .filter(|m| m.status != "LEFT" && !m.tokens.is_empty())
        .collect();
    let width = members
        .iter()
        .map(|m| address_and_port(m).len())
        .max()
        .unwrap_or(0);
    let mut by_dc: BTreeMap<&str, Vec<(i64, &ProtoMember)>> = BTreeMap::new();
    for m in &members {
        let dc = by_dc.entry(m.data_center.as_str()).or_default();
        dc.extend(m.tokens.iter().map(|t| (*t, *m)));
    }
    let mut out = String::from("\n");
    for (dc, mut tokens) in by_dc {
        tokens.sort_by_key(|(t, _)| *t);
        let _ = writeln!(out, "Datacenter: {dc}");
        out.push_str("==========\n");
        ring_line(
            &mut out,
            width,
            [
                "Address", "Rack", "Status", "State", "Load", "Owns", "Token",
            ],
        );
        match tokens.last() {
            Some((last, _)) if tokens.len() > 1 => {
                ring_line(&mut out, width, ["", "", "", "", "", "", &last.to_string()]);
            }
            _ => out.push('\n'),
        }
        for (token, m) in &tokens {
            let owns = ring
                .owns
                .get(&m.address)
                .map_or("?".to_owned(), |o| format!("{:.2}%", o * 100.0));
            ring_line(
                &mut out,
                width,
                [
                    &m.address,
                    &m.rack,
                    if m.up { "Up" } else { "Down" },
                    state_word(&m.status),
                    &human_size(m.load),
                    &owns,
                    &token.to_string(),
                ],
            );
        }
        out.push('\n');
    }
    if members.iter().any(|m| m.tokens.len() > 1) {
        out.push_str("  Warning: \"nodetool ring\" is used to output all the tokens of a node.\n");
        out.push_str(
            "  To view status related info of a node use \"nodetool status\" instead.\n\n",
        );
    }
    out.push_str("\n  ");
    if !ring.note.is_empty() {
        let _ = writeln!(out, "Note: {}", ring.note);
    }
    out
}

/// `nodetool describering`'s text: the schema version, then each range with its replicas, as
/// Cassandra's `TokenRange.toString` (lists as Java prints them).
pub fn format_describe_ring(d: &DescribeRingResponse) -> String {
    let mut out = format!("Schema Version:{}\nTokenRange: \n", d.schema_version);
    for r in &d.ranges {
        let details: Vec<String> = r
            .endpoint_details
            .iter()
            .map(|e| {
                format!(
                    "EndpointDetails(host:{}, datacenter:{}, rack:{})",
                    e.host, e.datacenter, e.rack
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "\tTokenRange(start_token:{}, end_token:{}, endpoints:[{}], rpc_endpoints:[{}], endpoint_details:[{}])",
            r.start_token,
            r.end_token,
            r.endpoints.join(", "),
            r.rpc_endpoints.join(", "),
            details.join(", ")
        );
    }
    out
}

/// `nodetool info`'s text, with the fields Ilion measures (no heap, caches or repair: Ilion
/// has no JVM, and no figure is printed that it does not know). `all_tokens`: every token
/// (`-T`), as when the node has one.
pub fn format_info(i: &InfoResponse, all_tokens: bool) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{name:<23}: {value}");
    };
    field("ID", &i.host_id);
    field("Gossip active", &i.gossip_active);
    field("Native Transport active", &i.native_transport_active);
    field("Load", &human_size(i.load));
    field("Generation No", &i.generation);
    field("Uptime (seconds)", &i.uptime_seconds);
    field("Data Center", &i.data_center);
    field("Rack", &i.rack);
    if i.status == "JOINING" {
        field("Token", &"(node is not joined to the cluster)");
    } else if i.tokens.len() == 1 || all_tokens {
        let mut tokens = i.tokens.clone();
        tokens.sort_unstable();
        for t in tokens {
            field("Token", &t);
        }
    } else {
        field(
            "Token",
            &format!(
                "(invoke with -T/--tokens to see all {} tokens)",
                i.tokens.len()
            ),
        );
    }
    field(
        "Bootstrap state",
        &match i.status.as_str() {
            "JOINING" => "IN_PROGRESS",
            "LEFT" => "DECOMMISSIONED",
            _ => "COMPLETED",
        },
    );
    field("Decommissioning", &i.decommissioning);
    field("Decommission failed", &i.decommission_failed);
    out
}

/// `nodetool describecluster`'s text from the node's view of the cluster: name, snitch and
/// partitioner (as DESCRIBE CLUSTER reports them), the schema versions with the nodes on
/// each, node counts by state, data centers and release versions.
pub fn format_describe_cluster(status: &StatusResponse) -> String {
    let members: Vec<&ProtoMember> = status
        .members
        .iter()
        .filter(|m| m.status != "LEFT")
        .collect();
    let mut out = String::from("Cluster Information:\n");
    let _ = writeln!(out, "\tName: {}", status.cluster_name);
    let _ = writeln!(out, "\tSnitch: org.apache.cassandra.locator.SimpleSnitch");
    let _ = writeln!(out, "\tDynamicEndPointSnitch: disabled");
    let _ = writeln!(
        out,
        "\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner"
    );
    let _ = writeln!(out, "\tSchema versions:");
    let mut schemas: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut versions: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut dcs: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for m in &members {
        // An unreachable node's schema version is not known now, as nodetool shows it.
        let schema = if m.up {
            m.schema_version.as_str()
        } else {
            "UNREACHABLE"
        };
        schemas.entry(schema).or_default().push(&m.address);
        versions
            .entry(m.release_version.as_str())
            .or_default()
            .push(format!("{}:{}", m.address, m.storage_port));
        let dc = dcs.entry(m.data_center.as_str()).or_default();
        dc.0 += 1;
        if !m.up {
            dc.1 += 1;
        }
    }
    for (version, nodes) in &schemas {
        let _ = writeln!(out, "\t\t{version}: [{}]\n", nodes.join(", "));
    }
    let count = |f: &dyn Fn(&ProtoMember) -> bool| members.iter().filter(|m| f(m)).count();
    let _ = writeln!(out, "Stats for all nodes:");
    let _ = writeln!(out, "\tLive: {}", count(&|m| m.up));
    let _ = writeln!(out, "\tJoining: {}", count(&|m| m.status == "JOINING"));
    let _ = writeln!(out, "\tMoving: 0");
    let _ = writeln!(out, "\tLeaving: {}", count(&|m| m.status == "LEAVING"));
    let _ = writeln!(out, "\tUnreachable: {}", count(&|m| !m.up));
    let _ = writeln!(out, "\nData Centers: ");
    for (dc, (nodes, down)) in &dcs {
        let _ = writeln!(out, "\t{dc} #Nodes: {nodes} #Down: {down}");
    }
    let _ = writeln!(out, "\nDatabase versions:");
    for (version, nodes) in &versions {
        let _ = writeln!(out, "\t{version}: [{}]\n", nodes.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::proto::StreamStatus;

    fn member(address: &str, up: bool, tokens: Vec<i64>) -> ProtoMember {
        ProtoMember {
            address: address.to_owned(),
            host_id: "6d5b3c4e-0000-4000-8000-000000000001".to_owned(),
            data_center: "datacenter1".to_owned(),
            rack: "rack1".to_owned(),
            tokens,
            status: "NORMAL".to_owned(),
            up,
            load: 72_417.0,
            ..ProtoMember::default()
        }
    }

    #[test]
    fn status_prints_a_datacenter_header_and_one_line_per_member_with_its_state() {
        let status = StatusResponse {
            cluster_name: "c".into(),
            local_address: "127.0.0.1".into(),
            members: vec![
                member("127.0.0.2", false, vec![i64::MIN / 2]),
                member("127.0.0.1", true, vec![0, i64::MAX / 2]),
            ],
        };
        let text = format_status(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Datacenter: datacenter1");
        assert_eq!(lines[1], "=".repeat("Datacenter: datacenter1".len()));
        assert!(lines[4].starts_with("--  Address"), "{text}");
        assert!(
            lines[5].starts_with("UN  127.0.0.1  70.72 KiB  2"),
            "{text}"
        );
        assert!(lines[6].starts_with("DN  127.0.0.2"), "{text}");
        // Tokens at MIN/2, 0 and MAX/2: the first owner has (MIN/2, 0] and (0, MAX/2].
        assert!(lines[5].contains("50.0%"), "{text}");
        assert!(lines[6].contains("50.0%"), "{text}");
    }

    #[test]
    fn ownership_of_a_single_token_is_the_whole_ring() {
        let owns = ownership(&[member("127.0.0.1", true, vec![42])]);
        assert_eq!(owns.get("127.0.0.1"), Some(&1.0));
    }

    #[test]
    fn netstats_prints_the_mode_and_each_stream_with_its_rate() {
        let idle = format_netstats(&NetstatsResponse {
            mode: "NORMAL".into(),
            streams: Vec::new(),
        });
        assert_eq!(idle, "Mode: NORMAL\nNot sending any streams.\n");
        let busy = format_netstats(&NetstatsResponse {
            mode: "JOINING".into(),
            streams: vec![StreamStatus {
                direction: "receiving".into(),
                peer: "127.0.0.1".into(),
                keyspace: "ks".into(),
                table: "t".into(),
                bytes: 2 * 1024 * 1024,
                partitions: 10,
                elapsed_ms: 2000,
                state: "running".into(),
            }],
        });
        assert!(busy.starts_with("Mode: JOINING\n"), "{busy}");
        assert!(
            busy.contains("receiving from 127.0.0.1 ks.t: 2.00 MiB (10 partitions) in 2.0 s, 1.00 MiB/s, running"),
            "{busy}"
        );
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human_size(512.0), "512 bytes");
        assert_eq!(human_size(1536.0), "1.50 KiB");
        assert_eq!(human_size(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00 GiB");
    }

    fn ring_member(address: &str, up: bool, status: &str, tokens: Vec<i64>) -> ProtoMember {
        ProtoMember {
            status: status.to_owned(),
            storage_port: 7000,
            ..member(address, up, tokens)
        }
    }

    #[test]
    fn ring_prints_one_line_per_token_sorted_after_the_last_token_as_nodetool() {
        let ring = RingResponse {
            members: vec![
                ring_member("127.0.0.2", false, "LEAVING", vec![-10, 30]),
                ring_member("127.0.0.1", true, "NORMAL", vec![20, -40]),
                ring_member("127.0.0.9", true, "LEFT", vec![50]),
            ],
            owns: [
                ("127.0.0.1".to_owned(), 0.5),
                ("127.0.0.2".to_owned(), 1.0 / 3.0),
            ]
            .into_iter()
            .collect(),
            note: String::new(),
        };
        let pad = |s: &str, w: usize| format!("{s:<w$}");
        let line = |cols: [&str; 7]| {
            format!(
                "{}  {}{}{}{}{}{}\n",
                pad(cols[0], 14),
                pad(cols[1], 12),
                pad(cols[2], 7),
                pad(cols[3], 8),
                pad(cols[4], 16),
                pad(cols[5], 20),
                pad(cols[6], 44)
            )
        };
        let load = "70.72 KiB";
        let up = |token| line(["127.0.0.1", "rack1", "Up", "Normal", load, "50.00%", token]);
        let down = |token| {
            line([
                "127.0.0.2",
                "rack1",
                "Down",
                "Leaving",
                load,
                "33.33%",
                token,
            ])
        };
        let expected = [
            "\n".to_owned(),
            "Datacenter: datacenter1\n==========\n".to_owned(),
            line([
                "Address", "Rack", "Status", "State", "Load", "Owns", "Token",
            ]),
            line(["", "", "", "", "", "", "30"]),
            up("-40"),
            down("-10"),
            up("20"),
            down("30"),
            "\n".to_owned(),
            "  Warning: \"nodetool ring\" is used to output all the tokens of a node.\n".to_owned(),
            "  To view status related info of a node use \"nodetool status\" instead.\n\n"
                .to_owned(),
            "\n  ".to_owned(),
        ]
        .concat();
        assert_eq!(format_ring(&ring), expected);
    }

    #[test]
    fn ring_with_one_token_prints_an_empty_line_for_the_last_token_and_the_note() {
        let ring = RingResponse {
            members: vec![ring_member("127.0.0.1", true, "NORMAL", vec![42])],
            owns: Default::default(),
            note: "Ownership values for keyspaces with LocalStrategy are meaningless".into(),
        };
        let text = format_ring(&ring);
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[1], "Datacenter: datacenter1");
        assert_eq!(lines[4], "");
        assert_eq!(
            lines[5].trim_end(),
            "127.0.0.1       rack1       Up     Normal  70.72 KiB       ?                   42"
        );
        assert!(!text.contains("Warning"), "{text}");
        assert!(
            text.ends_with(
                "\n\n  Note: Ownership values for keyspaces with LocalStrategy are meaningless\n"
            ),
            "{text:?}"
        );
    }

    #[test]
    fn describering_prints_each_range_as_cassandras_token_range() {
        use crate::cluster::proto::{EndpointDetails, TokenRangeEndpoints};
        let details = |host: &str| EndpointDetails {
            host: host.into(),
            datacenter: "dc1".into(),
            rack: "r1".into(),
        };
        let d = DescribeRingResponse {
            schema_version: "59adb24e-f3cd-3e02-97f0-5b395827453f".into(),
            ranges: vec![TokenRangeEndpoints {
                start_token: -10,
                end_token: 20,
                endpoints: vec!["127.0.0.1".into(), "127.0.0.2".into()],
                rpc_endpoints: vec!["10.0.0.1".into(), "10.0.0.2".into()],
                endpoint_details: vec![details("127.0.0.1"), details("127.0.0.2")],
            }],
        };
        assert_eq!(
            format_describe_ring(&d),
            "Schema Version:59adb24e-f3cd-3e02-97f0-5b395827453f\n\
             TokenRange: \n\
             \tTokenRange(start_token:-10, end_token:20, endpoints:[127.0.0.1, 127.0.0.2], \
             rpc_endpoints:[10.0.0.1, 10.0.0.2], \
             endpoint_details:[EndpointDetails(host:127.0.0.1, datacenter:dc1, rack:r1), \
             EndpointDetails(host:127.0.0.2, datacenter:dc1, rack:r1)])\n"
        );
    }

    fn info(status: &str, tokens: Vec<i64>) -> InfoResponse {
        InfoResponse {
            host_id: "6d5b3c4e-0000-4000-8000-000000000001".into(),
            gossip_active: true,
            native_transport_active: true,
            load: 72_417.0,
            generation: 1_712_345_678,
            uptime_seconds: 42,
            data_center: "datacenter1".into(),
            rack: "rack1".into(),
            tokens,
            status: status.into(),
            decommissioning: false,
            decommission_failed: false,
        }
    }

    #[test]
    fn info_prints_the_fields_ilion_measures_as_nodetool_info() {
        assert_eq!(
            format_info(&info("NORMAL", vec![30, -10, 20]), false),
            "ID                     : 6d5b3c4e-0000-4000-8000-000000000001\n\
             Gossip active          : true\n\
             Native Transport active: true\n\
             Load                   : 70.72 KiB\n\
             Generation No          : 1712345678\n\
             Uptime (seconds)       : 42\n\
             Data Center            : datacenter1\n\
             Rack                   : rack1\n\
             Token                  : (invoke with -T/--tokens to see all 3 tokens)\n\
             Bootstrap state        : COMPLETED\n\
             Decommissioning        : false\n\
             Decommission failed    : false\n"
        );
    }

    #[test]
    fn info_lists_the_tokens_when_asked_or_when_there_is_one_and_none_while_joining() {
        let all = format_info(&info("NORMAL", vec![30, -10]), true);
        assert!(
            all.contains("Token                  : -10\nToken                  : 30\n"),
            "{all}"
        );
        let one = format_info(&info("NORMAL", vec![7]), false);
        assert!(one.contains("Token                  : 7\n"), "{one}");
        let joining = format_info(&info("JOINING", vec![7]), false);
        assert!(
            joining.contains("Token                  : (node is not joined to the cluster)\n"),
            "{joining}"
        );
        assert!(
            joining.contains("Bootstrap state        : IN_PROGRESS\n"),
            "{joining}"
        );
    }

    #[test]
    fn describecluster_groups_nodes_by_schema_version_and_counts_the_unreachable() {
        let mut up = member("127.0.0.1", true, vec![0]);
        up.schema_version = "v1".into();
        up.release_version = "4.1.3".into();
        up.storage_port = 7000;
        let mut down = member("127.0.0.2", false, vec![1]);
        down.schema_version = "v1".into();
        down.release_version = "4.1.3".into();
        down.storage_port = 7000;
        let status = StatusResponse {
            cluster_name: "c".into(),
            local_address: "127.0.0.1".into(),
            members: vec![up, down],
        };
        let text = format_describe_cluster(&status);
        assert!(
            text.starts_with("Cluster Information:\n\tName: c\n"),
            "{text}"
        );
        assert!(text.contains("\t\tv1: [127.0.0.1]\n"), "{text}");
        assert!(text.contains("\t\tUNREACHABLE: [127.0.0.2]\n"), "{text}");
        assert!(text.contains("\tLive: 1\n") && text.contains("\tUnreachable: 1\n"));
        assert!(
            text.contains("\tdatacenter1 #Nodes: 2 #Down: 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\t4.1.3: [127.0.0.1:7000, 127.0.0.2:7000]\n"),
            "{text}"
        );
    }
}
