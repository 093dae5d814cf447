//! A one-task wake-up flag, and "sleep until a deadline or a signal".

use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::runtime::Runtime;

/// A notification flag with one waiting task. Lives inside its owner's
/// mutex, so notifying and waiting never race.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    notified: bool,
    waker: Option<Waker>,
}

impl Signal {
    pub(crate) fn notify(&mut self) {
        self.notified = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Ready (and reset) if notified since the last poll; otherwise
    /// registers the task to be woken.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.notified) {
            return Poll::Ready(());
        }
        match &mut self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Waits until `deadline` (forever if `None`) or until `signal` is ready.
pub(crate) async fn sleep_or<R: Runtime>(
    runtime: &R,
    deadline: Option<Instant>,
    mut signal: impl FnMut(&mut Context<'_>) -> Poll<()>,
) {
    let mut sleep = deadline.map(|d| runtime.sleep_until(d));
    poll_fn(|cx| {
        if signal(cx).is_ready() {
            return Poll::Ready(());
        }
        match &mut sleep {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Pending,
        }
    })
    .await
}
