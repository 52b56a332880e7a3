//! Bytes of request bodies in flight, as Cassandra 4.1/5.0 limits them: on the whole node
//! (`native_transport_max_request_data_in_flight`) and per client address
//! (`native_transport_max_request_data_in_flight_per_ip`).
//!
//! A statement's body counts from the moment its frame is taken off the socket until its
//! response has been written to the socket. A request that would take a total over its limit
//! is answered at once with Overloaded (0x1001) when the client sent `THROW_ON_OVERLOAD: 1` in
//! its STARTUP; otherwise it runs anyway (counted over the limit, as Cassandra's forced
//! allocation) and its connection stops reading the socket until the totals are back under
//! their limits or the connection has nothing in flight (backpressure: TCP tells the client).
//!
//! [`Ledger`] is the arithmetic, with no locks and no I/O; [`InFlight`] shares one ledger
//! between connections and wakes paused connections when bytes are released.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Bytes in flight from one client address and on the whole node, with their limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub endpoint: u64,
    pub endpoint_limit: u64,
    pub global: u64,
    pub global_limit: u64,
}

impl Usage {
    /// The message of the Overloaded error, in Cassandra 5.0's words
    /// (`CQLMessageHandler.buildOverloadedException`).
    pub(crate) fn overloaded_message(&self) -> String {
        format!(
            "Request breached limit on bytes in flight. (Endpoint: {}/{} bytes, Global: {}/{} \
             bytes.) Server is currently in an overloaded state and cannot accept more requests.",
            self.endpoint, self.endpoint_limit, self.global, self.global_limit
        )
    }
}

/// The counts of bytes in flight per client address and in total.
///
/// Invariant: `global` is the sum of `per_ip`, and `per_ip` holds no zero entry (an address
/// with nothing in flight takes no memory).
#[derive(Debug)]
pub(crate) struct Ledger {
    global_limit: u64,
    per_ip_limit: u64,
    global: u64,
    /// Looked up twice a request: foldhash, not SipHash (the keys are addresses).
    per_ip: foldhash::HashMap<IpAddr, u64>,
}

impl Ledger {
    pub(crate) fn new(global_limit: u64, per_ip_limit: u64) -> Ledger {
        Ledger {
            global_limit,
            per_ip_limit,
            global: 0,
            per_ip: foldhash::HashMap::default(),
        }
    }

    fn endpoint(&self, ip: IpAddr) -> u64 {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Whether `bytes` more from `ip` fit. Each scope (the address, the node) admits when it
    /// stays within its limit with them, or when it has nothing in flight: a request larger
    /// than a limit on its own still runs when it is alone, where Cassandra would refuse it
    /// forever with THROW_ON_OVERLOAD (it only runs such a request under backpressure).
    pub(crate) fn admits(&self, ip: IpAddr, bytes: u64) -> bool {
        let fits = |used: u64, limit: u64| {
            used == 0 || used.checked_add(bytes).is_some_and(|total| total <= limit)
        };
        fits(self.endpoint(ip), self.per_ip_limit) && fits(self.global, self.global_limit)
    }

    /// Counts `bytes` from `ip` as in flight, whether or not they fit (backpressure runs the
    /// request that crossed a limit). Saturates rather than wraps.
    pub(crate) fn acquire(&mut self, ip: IpAddr, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let e = self.per_ip.entry(ip).or_insert(0);
        *e = e.saturating_add(bytes);
        self.global = self.global.saturating_add(bytes);
    }

    /// Returns `bytes` from `ip` (what [`Ledger::acquire`] counted); never goes below zero.
    pub(crate) fn release(&mut self, ip: IpAddr, bytes: u64) {
        let mut emptied = false;
        if let Some(e) = self.per_ip.get_mut(&ip) {
            *e = e.saturating_sub(bytes);
            emptied = *e == 0;
        }
        if emptied {
            self.per_ip.remove(&ip);
        }
        self.global = self.global.saturating_sub(bytes);
    }

    /// Whether `ip` and the node are both under their limits: a connection paused by
    /// backpressure reads again (Cassandra's `BELOW_LIMIT`).
    pub(crate) fn below_limits(&self, ip: IpAddr) -> bool {
        self.endpoint(ip) < self.per_ip_limit && self.global < self.global_limit
    }

    pub(crate) fn usage(&self, ip: IpAddr) -> Usage {
        Usage {
            endpoint: self.endpoint(ip),
            endpoint_limit: self.per_ip_limit,
            global: self.global,
            global_limit: self.global_limit,
        }
    }
}

/// What becomes of a request's body bytes.
#[derive(Debug)]
pub(crate) enum Admission {
    /// They fit: run the request, hold the reservation until its response is written.
    Admitted(Reservation),
    /// They do not fit and the client asked for THROW_ON_OVERLOAD: answer Overloaded. Nothing
    /// is counted.
    Overloaded(Usage),
    /// They do not fit: the request runs (its bytes counted over the limit) and the connection
    /// stops reading until [`InFlight::resumed`].
    Backpressure(Reservation),
}

/// The node's ledger, shared by every connection.
#[derive(Debug)]
pub(crate) struct InFlight {
    ledger: Mutex<Ledger>,
    /// Signalled whenever bytes are released, for connections paused by backpressure.
    released: Notify,
}

impl InFlight {
    pub(crate) fn new(global_limit: u64, per_ip_limit: u64) -> InFlight {
        InFlight {
            ledger: Mutex::new(Ledger::new(global_limit, per_ip_limit)),
            released: Notify::new(),
        }
    }

    /// Decides on a request of `bytes` from `ip` on a connection whose own bytes in flight
    /// are `connection` (released with the reservation).
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        bytes: u64,
        throw_on_overload: bool,
        connection: &Arc<AtomicU64>,
    ) -> Admission {
        let fits = {
            let mut ledger = self.ledger.lock();
            let fits = ledger.admits(ip, bytes);
            if !fits && throw_on_overload {
                return Admission::Overloaded(ledger.usage(ip));
            }
            ledger.acquire(ip, bytes);
            fits
        };
        connection.fetch_add(bytes, Ordering::Relaxed);
        let reservation = Reservation {
            in_flight: self.clone(),
            ip,
            bytes,
            connection: connection.clone(),
        };
        if fits {
            Admission::Admitted(reservation)
        } else {
            Admission::Backpressure(reservation)
        }
    }

    /// Waits until a connection paused by backpressure may read again: `ip` and the node are
    /// under their limits, or the connection itself has nothing in flight (Cassandra resumes
    /// on either, so a connection never waits on bytes only others hold).
    pub(crate) async fn resumed(&self, ip: IpAddr, connection: &AtomicU64) {
        loop {
            // Registered before the check, so a release between the check and the wait
            // is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if connection.load(Ordering::Relaxed) == 0 || self.ledger.lock().below_limits(ip) {
                return;
            }
            released.await;
        }
    }

    fn release(&self, ip: IpAddr, bytes: u64) {
        self.ledger.lock().release(ip, bytes);
        self.released.notify_waiters();
    }

    #[cfg(test)]
    fn usage(&self, ip: IpAddr) -> Usage {
        self.ledger.lock().usage(ip)
    }
}

/// Body bytes of one request counted in flight; dropping it (once the response is written,
/// or when the connection is gone) releases them.
#[derive(Debug)]
pub(crate) struct Reservation {
    in_flight: Arc<InFlight>,
    ip: IpAddr,
    bytes: u64,
    connection: Arc<AtomicU64>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.connection.fetch_sub(self.bytes, Ordering::Relaxed);
        self.in_flight.release(self.ip, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn bytes_acquired_are_released_to_zero() {
        let mut l = Ledger::new(100, 50);
        l.acquire(A, 30);
        l.acquire(B, 20);
        assert_eq!(
            l.usage(A),
            Usage {
                endpoint: 30,
                endpoint_limit: 50,
                global: 50,
                global_limit: 100
            }
        );
        l.release(A, 30);
        l.release(B, 20);
        assert_eq!(l.usage(A).global, 0);
        assert!(
            l.per_ip.is_empty(),
            "an address with nothing in flight is forgotten"
        );
    }

    #[test]
    fn a_request_that_takes_its_address_over_the_per_ip_limit_is_not_admitted() {
        let mut l = Ledger::new(1000, 50);
        l.acquire(A, 40);
        assert!(l.admits(A, 10), "exactly at the limit fits");
        assert!(!l.admits(A, 11));
        assert!(l.admits(B, 50), "another address has its own allowance");
    }

    #[test]
    fn a_request_that_takes_the_node_over_the_global_limit_is_not_admitted() {
        let mut l = Ledger::new(100, 80);
        l.acquire(A, 60);
        assert!(l.admits(B, 40));
        assert!(
            !l.admits(B, 41),
            "B is under its own limit but the node is not"
        );
    }

    #[test]
    fn a_request_larger_than_the_limits_is_admitted_when_nothing_is_in_flight() {
        let mut l = Ledger::new(100, 10);
        assert!(l.admits(A, 1_000));
        l.acquire(A, 1_000);
        assert!(!l.admits(A, 1), "but nothing joins it");
        assert!(!l.admits(B, 1), "the node is over its limit");
        l.release(A, 1_000);
        assert!(l.admits(B, 1_000));
    }

    #[test]
    fn the_limits_are_below_again_only_when_both_scopes_are_under() {
        let mut l = Ledger::new(100, 60);
        l.acquire(A, 60);
        assert!(!l.below_limits(A), "at the per-ip limit");
        assert!(l.below_limits(B));
        l.acquire(B, 40);
        assert!(
            !l.below_limits(B),
            "under its own limit, but the node is at its limit"
        );
        l.release(A, 1);
        assert!(l.below_limits(A));
        assert!(l.below_limits(B));
    }

    #[test]
    fn huge_counts_saturate_instead_of_wrapping() {
        let mut l = Ledger::new(u64::MAX, u64::MAX);
        l.acquire(A, u64::MAX);
        l.acquire(A, u64::MAX);
        assert_eq!(l.usage(A).global, u64::MAX);
        assert!(!l.admits(B, 1), "no total past u64::MAX fits");
        l.release(A, u64::MAX);
        l.release(A, u64::MAX);
        l.release(B, 7);
        assert_eq!(l.usage(A).global, 0);
    }

    #[test]
    fn throw_on_overload_counts_nothing_and_backpressure_counts_over_the_limit() {
        let in_flight = Arc::new(InFlight::new(100, 100));
        let conn = Arc::new(AtomicU64::new(0));
        let first = in_flight.admit(A, 80, true, &conn);
        assert!(matches!(first, Admission::Admitted(_)));
        let refused = in_flight.admit(A, 30, true, &conn);
        let Admission::Overloaded(usage) = refused else {
            panic!("expected Overloaded, got {refused:?}");
        };
        assert_eq!(usage.endpoint, 80);
        assert!(
            usage
                .overloaded_message()
                .starts_with("Request breached limit on bytes in flight. (Endpoint: 80/100")
        );
        assert_eq!(in_flight.usage(A).global, 80);
        let over = in_flight.admit(A, 30, false, &conn);
        assert!(matches!(over, Admission::Backpressure(_)));
        assert_eq!(in_flight.usage(A).global, 110);
        assert_eq!(conn.load(Ordering::Relaxed), 110);
        drop(first);
        drop(over);
        assert_eq!(in_flight.usage(A).global, 0);
        assert_eq!(conn.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_paused_connection_resumes_when_bytes_are_released() {
        let in_flight = Arc::new(InFlight::new(100, 100));
        let mine = Arc::new(AtomicU64::new(0));
        let theirs = Arc::new(AtomicU64::new(0));
        let held = in_flight.admit(B, 100, false, &theirs);
        let over = in_flight.admit(A, 10, false, &mine);
        assert!(matches!(over, Admission::Backpressure(_)));
        let waiter = {
            let in_flight = in_flight.clone();
            let mine = mine.clone();
            tokio::spawn(async move { in_flight.resumed(A, &mine).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the node is over its limit");
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("resumed after the release")
            .unwrap();
        drop(over);
    }

    #[tokio::test]
    async fn a_paused_connection_with_nothing_in_flight_resumes_at_once() {
        let in_flight = Arc::new(InFlight::new(10, 10));
        let theirs = Arc::new(AtomicU64::new(0));
        let _held = in_flight.admit(B, 100, false, &theirs);
        let mine = AtomicU64::new(0);
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            in_flight.resumed(A, &mine),
        )
        .await
        .expect("nothing of this connection is in flight");
    }
}
