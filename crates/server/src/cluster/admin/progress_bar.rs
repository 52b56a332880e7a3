//! The progress of `ilion decommission`, `removenode` and `cleanup` on the command line: while
//! the operation's call waits, the node's `Progress` is polled every 500 ms and drawn as a bar
//! on stderr (percent, bytes, rate, time left), or, when stderr is not a terminal, as a plain
//! line when the phase changes and every few seconds within one, so logs stay readable. The operation's own answer and exit status
//! are untouched.

use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::client::fetch_progress;
use super::format::human_size;
use crate::cluster::progress::Operation;
use crate::cluster::proto::ProgressResponse;

/// How often the node is asked.
const POLL: Duration = Duration::from_millis(500);
/// How often a plain progress line is printed within one phase when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// What the figures of a running operation say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    /// Units done over units planned, 0 to 100.
    pub percent: f64,
    /// Bytes streamed per second since the work was planned.
    pub bytes_per_sec: f64,
    /// The time the units left take at the rate units went so far; unknown before the first.
    pub left: Option<Duration>,
}

/// The estimate of a planned operation; `None` before it is planned (or with nothing to do).
pub(crate) fn estimate(p: &ProgressResponse) -> Option<Estimate> {
    if p.total == 0 {
        return None;
    }
    let done = p.done.min(p.total);
    #[allow(clippy::cast_precision_loss)]
    let percent = done as f64 * 100.0 / p.total as f64;
    let working = Duration::from_millis(p.working_ms);
    #[allow(clippy::cast_precision_loss)]
    let bytes_per_sec = if p.working_ms == 0 {
        0.0
    } else {
        p.bytes as f64 / working.as_secs_f64()
    };
    let left = (done > 0).then(|| {
        #[allow(clippy::cast_precision_loss)]
        let per_unit = working.as_secs_f64() / done as f64;
        #[allow(clippy::cast_precision_loss)]
        Duration::from_secs_f64(per_unit * (p.total - done) as f64)
    });
    Some(Estimate {
        percent,
        bytes_per_sec,
        left,
    })
}

/// A duration as an operator reads it: `45s`, `3m 05s`, `2h 07m`.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

/// The progress in words: before the plan, what the operation does; then percent, units,
/// bytes streamed and rate (operations that stream ranges) and the time left.
pub(crate) fn progress_line(p: &ProgressResponse) -> String {
    let Some(e) = estimate(p) else {
        return p.phase.clone();
    };
    #[allow(clippy::cast_precision_loss)]
    let mut line = format!("{:.0}% ({}/{} {})", e.percent, p.done, p.total, p.unit);
    if p.unit == "ranges" {
        line.push_str(&format!(
            ", {} streamed, {}/s",
            human_size(p.bytes as f64),
            human_size(e.bytes_per_sec)
        ));
    }
    match e.left {
        Some(left) => line.push_str(&format!(", {} left", human_duration(left))),
        None => line.push_str(", time left unknown yet"),
    }
    line
}

/// Whether a plain line is due: the phase changed since the last line (`last_phase`, printed
/// `since` ago), or [`PLAIN_EVERY`] went by.
fn plain_line_due(last_phase: &str, since: Duration, phase: &str) -> bool {
    last_phase != phase || since >= PLAIN_EVERY
}

/// Where the progress goes.
enum Display {
    Bar(ProgressBar),
    /// A line for each new phase, and at most every [`PLAIN_EVERY`] within one.
    Plain {
        name: &'static str,
        last: Option<(Instant, String)>,
    },
}

impl Display {
    fn new(operation: Operation) -> Display {
        if !std::io::stderr().is_terminal() {
            return Display::Plain {
                name: operation.name(),
                last: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(operation.name());
        Display::Bar(bar)
    }

    fn show(&mut self, p: &ProgressResponse) {
        if !p.running {
            return;
        }
        match self {
            Display::Bar(bar) => {
                bar.set_length(p.total);
                bar.set_position(p.done.min(p.total));
                bar.set_message(progress_line(p));
            }
            Display::Plain { name, last } => {
                let due = last
                    .as_ref()
                    .is_none_or(|(at, phase)| plain_line_due(phase, at.elapsed(), &p.phase));
                if due {
                    eprintln!("{name}: {}", progress_line(p));
                    *last = Some((Instant::now(), p.phase.clone()));
                }
            }
        }
    }

    fn finish(self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Waits for `work` (the operation's call to the node at `host`) while showing the node's
/// progress of `operation`; returns `work`'s result. A progress poll that fails is skipped.
pub async fn with_progress<T>(
    host: &str,
    operation: Operation,
    work: impl Future<Output = T>,
) -> T {
    let mut display = Display::new(operation);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                display.finish();
                return out;
            }
            _ = tick.tick() => {
                if let Ok(p) = fetch_progress(host, operation, POLL * 4).await {
                    display.show(&p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u64, total: u64, bytes: u64, working_ms: u64) -> ProgressResponse {
        ProgressResponse {
            running: true,
            phase: "streaming its ranges to their new owners".into(),
            done,
            total,
            unit: "ranges".into(),
            bytes,
            working_ms,
            elapsed_ms: working_ms + 2_000,
        }
    }

    #[test]
    fn percent_and_time_left_come_from_ranges_and_the_rate_from_bytes() {
        // 10 of 40 ranges in 20 s: 2 s a range, 30 left = 60 s; 4 MiB in 20 s.
        let e = estimate(&progress(10, 40, 4 * 1024 * 1024, 20_000)).unwrap();
        assert_eq!(e.percent, 25.0);
        assert_eq!(e.left, Some(Duration::from_secs(60)));
        assert!(
            (e.bytes_per_sec - 209_715.2).abs() < 1e-6,
            "{}",
            e.bytes_per_sec
        );
    }

    #[test]
    fn there_is_no_estimate_before_the_plan_and_no_time_left_before_the_first_range() {
        assert_eq!(estimate(&progress(0, 0, 0, 0)), None);
        let first = estimate(&progress(0, 8, 0, 0)).unwrap();
        assert_eq!(
            (first.percent, first.bytes_per_sec, first.left),
            (0.0, 0.0, None)
        );
        let done = estimate(&progress(8, 8, 100, 1_000)).unwrap();
        assert_eq!((done.percent, done.left), (100.0, Some(Duration::ZERO)));
    }

    #[test]
    fn the_progress_line_reads_percent_units_bytes_rate_and_time_left() {
        assert_eq!(
            progress_line(&progress(0, 0, 0, 0)),
            "streaming its ranges to their new owners"
        );
        assert_eq!(
            progress_line(&progress(10, 40, 4 * 1024 * 1024, 20_000)),
            "25% (10/40 ranges), 4.00 MiB streamed, 204.80 KiB/s, 1m 00s left"
        );
        assert_eq!(
            progress_line(&progress(0, 40, 0, 1_000)),
            "0% (0/40 ranges), 0 bytes streamed, 0 bytes/s, time left unknown yet"
        );
        let cleanup = ProgressResponse {
            unit: "tables".into(),
            ..progress(1, 3, 0, 4_000)
        };
        assert_eq!(progress_line(&cleanup), "33% (1/3 tables), 8s left");
    }

    #[test]
    fn a_plain_line_is_due_on_a_new_phase_or_after_a_while_in_one() {
        let waiting = "waiting until every node sees this node LEAVING";
        assert!(plain_line_due("starting", Duration::ZERO, waiting));
        assert!(!plain_line_due(waiting, Duration::from_secs(1), waiting));
        assert!(plain_line_due(waiting, PLAIN_EVERY, waiting));
    }

    #[test]
    fn durations_read_in_seconds_minutes_or_hours() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(human_duration(Duration::from_secs(7_620)), "2h 07m");
    }
}
