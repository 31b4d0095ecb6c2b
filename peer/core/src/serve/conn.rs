//! One connection's bookkeeping: when a byte last moved, whether a request is being answered,
//! and the deadline of a request's body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Activity of one connection.
#[derive(Debug)]
pub(crate) struct Watch {
    start: Instant,
    /// Milliseconds since `start` when a byte last moved.
    last: AtomicU64,
    /// Requests being answered.
    busy: AtomicUsize,
}

impl Watch {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Whether nothing has moved for `idle` and no request is being answered.
    pub(crate) fn idle_for(&self, idle: Duration) -> bool {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return false;
        }
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(self.last.load(Ordering::Relaxed)) >= idle_ms
    }

    /// Mark a request as being answered until the guard drops.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// See [`Watch::busy`].
#[derive(Debug)]
pub(crate) struct Busy(Arc<Watch>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An I/O stream that tells its [`Watch`] when bytes move.
#[derive(Debug)]
pub(crate) struct Watched<I> {
    pub(crate) io: I,
    pub(crate) watch: Arc<Watch>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.touch();
        }
        res
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.touch();
        }
        res
    }

    // Forwarded, so that hyper writes a body's pieces with one `writev` each, as they are
    // (without these it copies every byte of every answer into its own buffer first: 4 % of
    // the gateway's CPU while it streams a merged list).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The request body must be complete by a deadline; after it, reading fails (the handler's
/// extractor answers 4xx) instead of holding the connection. The timer is armed only when
/// the body first has to wait, so a body that is already there costs none.
#[derive(Debug)]
pub(crate) struct DeadlineBody<B> {
    inner: B,
    at: Instant,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    pub(crate) fn new(inner: B, within: Duration) -> Self {
        Self {
            inner,
            at: Instant::now() + within,
            deadline: None,
        }
    }
}

/// The error a body past its deadline reads as.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within the body timeout")]
pub struct BodyTimeout;

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(f) => Poll::Ready(f.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                let at = self.at;
                let deadline = self
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use tokio::io::AsyncWriteExt as _;

    use super::*;

    #[tokio::test]
    async fn a_watched_stream_writes_vectored_when_its_stream_does_and_counts_it_as_activity() {
        // A connection opened ten seconds ago, silent since.
        let watch = Arc::new(Watch {
            start: Instant::now()
                .checked_sub(Duration::from_secs(10))
                .expect("uptime"),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        });
        let mut w = Watched {
            io: Vec::new(),
            watch: watch.clone(),
        };
        // A Vec writes vectored: hyper may then hand it a body's pieces without copying them.
        assert!(w.is_write_vectored());
        assert!(watch.idle_for(Duration::from_secs(5)));
        let n = w
            .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
            .await
            .expect("written");
        assert_eq!((n, w.io.as_slice()), (4, &b"abcd"[..]));
        assert!(!watch.idle_for(Duration::from_secs(5)));
    }
}
