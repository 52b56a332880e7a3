//! Waiting on many [`Messenger`](crate::Messenger) answers from a blocking thread, without a
//! runtime: the futures are polled here with a waker that unparks this thread.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Instant;

use bytes::Bytes;

use crate::cluster::{BoxFuture, MessagingError};

pub(crate) type Answer = Result<Bytes, MessagingError>;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Requests in flight, each with a tag saying what it was.
pub(crate) struct Inflight<T> {
    pending: Vec<(T, BoxFuture<Answer>)>,
}

impl<T> std::fmt::Debug for Inflight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Inflight({} pending)", self.pending.len())
    }
}

impl<T> Inflight<T> {
    pub(crate) fn new() -> Inflight<T> {
        Inflight {
            pending: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, tag: T, future: BoxFuture<Answer>) {
        self.pending.push((tag, future));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// One answer that is ready now, if any.
    pub(crate) fn poll_ready(&mut self) -> Option<(T, Answer)> {
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        self.poll_with(&waker)
    }

    fn poll_with(&mut self, waker: &Waker) -> Option<(T, Answer)> {
        let mut cx = Context::from_waker(waker);
        for at in 0..self.pending.len() {
            let ready = match self.pending.get_mut(at) {
                Some((_, f)) => match f.as_mut().poll(&mut cx) {
                    Poll::Ready(a) => a,
                    Poll::Pending => continue,
                },
                None => break,
            };
            let (tag, _) = self.pending.swap_remove(at);
            return Some((tag, ready));
        }
        None
    }

    /// The next answer, waiting at most until `deadline`; `None` when nothing is pending or
    /// the deadline passed.
    pub(crate) fn next(&mut self, deadline: Instant) -> Option<(T, Answer)> {
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        loop {
            if self.pending.is_empty() {
                return None;
            }
            if let Some(a) = self.poll_with(&waker) {
                return Some(a);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    pub(crate) fn into_pending(self) -> Vec<(T, BoxFuture<Answer>)> {
        self.pending
    }
}
