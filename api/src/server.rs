//! The HTTP/1.1 server: an accept loop over hyper that bounds what a client can hold.
//!
//! `axum::serve` keeps a connection for as long as the client likes, however many there are,
//! and reads headers of up to 400 KiB: a thousand idle sockets took a gigabyte (issue 12). Here
//! a connection must complete each request header within `header_timeout` of its first byte
//! (of the connection's start, for its first request), an idle keep-alive connection is closed
//! after `idle_timeout`, at most `max_connections` are open at once (the next waits in the
//! kernel's backlog), and a header block is at most `max_header_bytes`. A connection that has
//! sent nothing yet holds no HTTP state at all, only its socket. ADR 0020 explains the values.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, Router};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, Semaphore},
    time::Instant,
};
use tower::ServiceExt as _;

/// The limits of the server; defaults are the configuration's (ADR 0020).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request header may take, from its first byte (a new connection: from its
    /// start), before the connection is closed.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The largest request line and header block, in bytes (larger: 431).
    pub max_header_bytes: usize,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish
/// (up to `limits.shutdown_grace`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    warn_if_few_open_files(limits.max_connections);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true)
        .max_header_size(limits.max_header_bytes)
        // The read buffer holds at most one header block (plus a little of a body).
        .max_buf_size(limits.max_header_bytes.max(8192) + 8192);
    let http = Arc::new(http);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Waiting for a permit before accepting leaves further clients in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause rather than spin, and go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (router, http, stopping) = (router.clone(), Arc::clone(&http), stopping.clone());
        tokio::spawn(async move {
            serve_connection(stream, router, &http, limits, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: all of them back means all ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}

/// Warns when the process may open fewer files than the connection cap needs (plus some for
/// the database and the log): past that limit, accepting fails instead of queueing.
fn warn_if_few_open_files(max_connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok());
    if let Some(soft) = soft.filter(|soft| *soft < max_connections + 64) {
        tracing::warn!(
            open_files = soft,
            max_connections,
            "the open-file limit is below the connection cap: raise it (ulimit -n) or lower http.max_connections"
        );
    }
}

/// One connection, from its first byte to its end.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    http: &hyper::server::conn::http1::Builder,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let started = Instant::now();
    // A client that sends nothing costs its socket only, and goes after the header time-out.
    tokio::select! {
        ready = tokio::time::timeout(limits.header_timeout, stream.readable()) => {
            if !matches!(ready, Ok(Ok(()))) {
                return;
            }
        }
        _ = stopping.wait_for(|stop| *stop) => return,
    }
    let peer = stream
        .peer_addr()
        .ok()
        .map(|peer| crate::console::ClientAddress(peer.ip()));
    let activity = Arc::new(Activity::new(started));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let guard = activity.request_started();
            let mut request = request.map(Body::new);
            if let Some(peer) = peer {
                request.extensions_mut().insert(peer);
            }
            let response = router.clone().oneshot(request);
            async move {
                let response: Result<axum::response::Response, std::convert::Infallible> =
                    response.await;
                drop(guard);
                response
            }
        })
    };
    let connection = http.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut graceful = false;
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            outcome = connection.as_mut() => {
                if let Err(error) = outcome {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                if activity.expired(&limits, Instant::now()) {
                    tracing::debug!("closing a connection: header or idle time-out");
                    return;
                }
            }
            _ = stopping.wait_for(|stop| *stop), if !graceful => {
                graceful = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing, shared by its socket, its service and its watchdog. Times are
/// milliseconds since the connection started.
#[derive(Debug)]
struct Activity {
    started: Instant,
    /// Requests whose response is not yet made.
    busy: AtomicUsize,
    /// When the last response was made (or the connection started).
    idle_since: AtomicU64,
    /// When the first byte after `idle_since` arrived (`u64::MAX`: none yet).
    first_byte: AtomicU64,
    /// When the socket last moved a byte either way.
    last_io: AtomicU64,
}

/// Marks a request finished when dropped (also when its future is dropped).
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let now = self.0.now();
        self.0.first_byte.store(u64::MAX, Ordering::SeqCst);
        self.0.idle_since.store(now, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    fn new(started: Instant) -> Self {
        Self {
            started,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // A new connection's first header is timed from the connection's start.
            first_byte: AtomicU64::new(0),
            last_io: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.millis(Instant::now())
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, millis: u64) -> Instant {
        self.started + Duration::from_millis(millis)
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.busy.fetch_add(1, Ordering::SeqCst);
        RequestGuard(Arc::clone(self))
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = self.now();
        self.last_io.store(now, Ordering::SeqCst);
        if self.busy.load(Ordering::SeqCst) == 0 {
            let _ =
                self.first_byte
                    .compare_exchange(u64::MAX, now, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::SeqCst);
    }

    /// The next moment at which the connection may have to go.
    fn deadline(&self, limits: &Limits) -> Instant {
        if self.busy.load(Ordering::SeqCst) > 0 {
            // The request's own time-out bounds it; look again later.
            return Instant::now() + limits.header_timeout;
        }
        match self.first_byte.load(Ordering::SeqCst) {
            u64::MAX => {
                let quiet = self
                    .idle_since
                    .load(Ordering::SeqCst)
                    .max(self.last_io.load(Ordering::SeqCst));
                self.at(quiet) + limits.idle_timeout
            }
            first => self.at(first) + limits.header_timeout,
        }
    }

    /// Whether the connection has outstayed a limit at `now`.
    fn expired(&self, limits: &Limits, now: Instant) -> bool {
        self.busy.load(Ordering::SeqCst) == 0 && self.deadline(limits) <= now
    }
}

/// A socket that reports its reads and writes to the connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(_)) = polled {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(_)) = polled {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
