//! The HTTP server's connections: accepted under a cap, each closed when its request headers
//! are slow to come (slowloris) or when no byte moves on it for too long, and drained on
//! shutdown. warp's own `serve` sets neither a header timeout nor a cap, so the filter tree is
//! served here through hyper's HTTP/1 connection builder.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// How the HTTP server bounds its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time a client has to send a request's headers, counted from when the server waits for
    /// them: from the connection's start, and from the end of the previous response on a
    /// kept-alive connection (so it is also how long an idle connection stays open).
    pub header_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed: a request body
    /// sent byte by byte, a client that stops reading its response. Must be longer than the
    /// SQL time limit, since a query's response may be silent while it runs.
    pub idle_timeout: Duration,
    /// Most connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// The peer address of a request's connection, for per-client limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

/// Serves `service` on `listener` within `limits` until `shutdown`, then waits for the open
/// connections to finish their requests.
pub(crate) async fn run<S>(
    listener: TcpListener,
    service: S,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<
            hyper::Request<Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: past the cap, new connections wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let per_request = service.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            per_request.clone().call(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer, error = %e, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Out of file descriptors and the like: wait a moment rather than spin; a peer that reset
/// before being accepted is nothing to wait for.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting an HTTP connection failed");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// A stream that fails with `TimedOut` once no byte was read or written for `idle`.
struct IdleTimeout {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// A write's outcome, the deadline moved when bytes went out.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.expired(cx).map(Err),
        }
    }

    /// `Pending` while the deadline is ahead (its waker registered), else the error.
    fn expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "no byte moved on the connection within the idle timeout",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.expired(cx).map(Err),
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use warp::Filter;

    use super::*;

    /// A server on a free port until `stop` is sent.
    async fn start(limits: HttpLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A POST reads its body first; anything else answers with the client's address.
        let body = warp::post()
            .and(warp::body::bytes())
            .map(|body: bytes::Bytes| body.len().to_string());
        let client = warp::ext::optional::<ClientAddr>().map(|client: Option<ClientAddr>| {
            client.map(|c| c.0.ip().to_string()).unwrap_or_default()
        });
        let filter = body.or(client).unify();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(run(listener, warp::service(filter), limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
        stream.write_all(request).await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// How long until the server closes `stream` (reading and dropping whatever it sends).
    async fn time_until_closed(stream: &mut TcpStream) -> Duration {
        let started = std::time::Instant::now();
        let mut buf = [0u8; 256];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        started.elapsed()
    }

    #[tokio::test]
    async fn requests_see_their_client_and_half_sent_ones_are_cut_off() {
        let limits = HttpLimits {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_secs(5),
            max_connections: 4,
        };
        let (addr, stop) = start(limits).await;
        let mut whole = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(&mut whole, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            .await
            .unwrap();
        let took = time_until_closed(&mut half).await;
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
        drop(stop);
    }

    #[tokio::test]
    async fn a_connection_moving_no_byte_is_closed_after_the_idle_timeout() {
        let limits = HttpLimits {
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_millis(400),
            max_connections: 4,
        };
        let (addr, stop) = start(limits).await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
            .await
            .unwrap();
        let took = time_until_closed(&mut stalled).await;
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(4),
            "{took:?}"
        );
        drop(stop);
    }
}
