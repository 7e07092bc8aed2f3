//! [`ConnTimer`]: the timer hyper uses for one connection's header-read timeout, with one timer-wheel entry for
//! the connection's life instead of one per request.
//!
//! hyper asks for a new sleep each time it starts reading a request head (the timeout also bounds a keep-alive
//! connection's idle time, so one is armed between every two requests). With `TokioTimer` each of those is a
//! tokio `Sleep` registered in the timer wheel and removed again when the head is in: about 1,500 instructions
//! per request, a tenth of a small call. Here the sleeps share one tokio `Sleep`: one whose deadline is later
//! than the armed one leaves it alone (deadlines only grow as requests come), and one that is woken early re-arms
//! it for its own deadline. Each still completes exactly at its deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A [`hyper::rt::Timer`] for one connection.
#[derive(Clone, Default)]
pub(crate) struct ConnTimer {
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = Instant::now();
        // A duration past any clock's range is as good as for ever (30 years).
        self.sleep_until(now.checked_add(duration).unwrap_or(now + Duration::from_secs(30 * 365 * 86_400)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ConnSleep { shared: self.shared.clone(), deadline })
    }
}

/// One sleep: done at `deadline`, woken by the connection's shared timer.
struct ConnSleep {
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
    deadline: Instant,
}

impl hyper::rt::Sleep for ConnSleep {}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The clock is read only when the shared timer has fired: a poll before then costs no system call.
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let sleep = shared.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // Armed for later than this one needs: bring it forward (rare; deadlines grow request by request).
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                // Woken at an earlier sleep's deadline: this one is done only at its own.
                Poll::Ready(()) if Instant::now() >= self.deadline => return Poll::Ready(()),
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::rt::Timer;

    use super::*;

    #[tokio::test]
    async fn sleeps_end_at_their_own_deadlines() {
        let timer = ConnTimer::default();
        let start = Instant::now();
        // A first sleep arms the shared timer for 30 ms; a later, longer one must still wait its 80 ms.
        let first = timer.sleep(Duration::from_millis(30));
        let second = timer.sleep(Duration::from_millis(80));
        first.await;
        let after_first = start.elapsed();
        assert!(after_first >= Duration::from_millis(30), "{after_first:?}");
        second.await;
        let after_second = start.elapsed();
        assert!(after_second >= Duration::from_millis(80), "{after_second:?}");
        // And a shorter one than the armed deadline brings it forward.
        let mut long = timer.sleep(Duration::from_secs(30));
        assert!(tokio::time::timeout(Duration::from_millis(5), &mut long).await.is_err(), "armed for 30 s");
        drop(long);
        let t0 = Instant::now();
        timer.sleep(Duration::from_millis(20)).await;
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
