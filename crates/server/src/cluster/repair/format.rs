//! `ilion repair status`'s text.

use std::fmt::Write as _;

use crate::cluster::proto::RepairStatusResponse;

/// A duration in seconds as people read it: `45 s`, `12 min`, `3.5 h`, `4.2 days`.
fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    #[allow(clippy::cast_precision_loss)]
    let f = s as f64;
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else if s < 172_800 {
        format!("{:.1} h", f / 3600.0)
    } else {
        format!("{:.1} days", f / 86_400.0)
    }
}

/// One line per table: its ranges here (this node is their first replica), how many are due
/// and never repaired, the oldest last repair, when the next range is due and the period.
pub fn format_repair_status(s: &RepairStatusResponse) -> String {
    let mut out = format!(
        "Continuous repair: {}\n",
        if s.continuous_enabled {
            "on"
        } else {
            "off (continuous_repair_enabled: false)"
        }
    );
    if s.tables.is_empty() {
        out.push_str("No replicated table has a range this node is the first replica of.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<40} {:>6} {:>5} {:>6}  {:<16} {:<16} Period",
        "Table", "Ranges", "Due", "Never", "Oldest repair", "Next due"
    );
    for t in &s.tables {
        let oldest = if t.oldest_repair == 0 {
            "never".to_owned()
        } else {
            format!("{} ago", human(s.now - t.oldest_repair))
        };
        let next = if t.next_due <= s.now {
            "now".to_owned()
        } else {
            format!("in {}", human(t.next_due - s.now))
        };
        let _ = writeln!(
            out,
            "{:<40} {:>6} {:>5} {:>6}  {:<16} {:<16} {}",
            format!("{}.{}", t.keyspace, t.table),
            t.ranges,
            t.ranges_due,
            t.never_repaired,
            oldest,
            next,
            human(t.period_seconds)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::proto::TableRepairStatus;

    #[test]
    fn each_table_reads_as_a_line() {
        let s = RepairStatusResponse {
            continuous_enabled: true,
            now: 10_000,
            tables: vec![TableRepairStatus {
                keyspace: "ks".to_owned(),
                table: "t".to_owned(),
                ranges: 16,
                ranges_due: 2,
                never_repaired: 1,
                oldest_repair: 10_000 - 90,
                next_due: 10_000 + 7_200,
                period_seconds: 432_000,
            }],
        };
        let text = format_repair_status(&s);
        assert!(text.starts_with("Continuous repair: on\n"), "{text}");
        let line = text.lines().nth(2).unwrap();
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            [
                "ks.t", "16", "2", "1", "90", "s", "ago", "in", "2.0", "h", "5.0", "days"
            ]
        );
    }
}
