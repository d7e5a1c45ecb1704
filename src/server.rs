//! The listener: accepts connections up to a cap, serves HTTP/1.1 and HTTP/2 on each (over TLS
//! when configured), bounds how long a client may hold a connection without making progress, and
//! drains on shutdown. Plain and TLS share this one path; only the acceptor differs.
//!
//! `axum::serve` and axum-server set none of these bounds, so a few thousand sockets that send
//! half a request head, idle on keep-alive or drip a body would pin the server for good. The
//! bounds ([`HttpLimits`]):
//!
//! - a new connection must deliver a whole request head (TLS handshake included) within
//!   `header_read_timeout`; a kept-alive one gets the same bound from the first byte of its next
//!   request;
//! - a connection with no request in flight and no bytes arriving is closed after
//!   `idle_timeout` (a request is in flight until its response is sent, so a long download is
//!   not idle);
//! - a client that stops reading is cut off once writes to it have made no progress for
//!   `idle_timeout`;
//! - a request body must arrive whole within `body_read_timeout` of its head (408 otherwise;
//!   one deadline for the body, not per chunk, so dripping a byte at a time does not extend it);
//! - at most `max_connections` are served at once; further ones wait in the kernel's accept
//!   queue until a slot frees, so the process never runs out of descriptors or memory for them.
//!
//! The head and idle clocks live in the connection's I/O ([`Timed`]): when one expires while no
//! request is in flight, the next read fails and hyper drops the connection. Over HTTP/2 any
//! frame counts as the start of a request, so an idle HTTP/2 connection that pings is closed
//! after the head bound.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::AddExtension;
use axum::response::Response;
use axum::{Extension, Router};
use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsAcceptor;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tower::{Layer, Service, ServiceExt};
use tower_http::normalize_path::NormalizePath;

use crate::api::BodyTimedOut;
use crate::tls::TlsFiles;

/// Bounds on HTTP clients, so stalled or idle connections cannot pin the server
/// (enforced here). `config` loads them from the file, environment and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to deliver a whole request head: from connecting (TLS handshake included), or from
    /// the first byte of a later request on a kept-alive connection. Default 15 s: real clients
    /// send a head in one packet; a slow-loris client is cut off.
    pub header_read_timeout: Duration,
    /// How long a connection with nothing in flight stays open. Default 75 s: longer than the
    /// 60 s idle timeout of common load balancers, so they (not we) close pooled connections and
    /// never send on one we are closing.
    pub idle_timeout: Duration,
    /// Time for a request body to arrive whole after its head (408 otherwise). Default 60 s:
    /// the default 4 MiB body limit at 70 KB/s.
    pub body_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted. Default 4096: far above what
    /// clients with connection pools open, well below the descriptor limits servers run with.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// How long shutdown waits for requests in flight before it closes their connections. Idle and
/// half-sent connections close at once; this bounds only requests being answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Requests one HTTP/2 connection may have open at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Finish requests in flight, then close; close idle connections now.
    Draining,
    /// Close everything now.
    Stopped,
}

/// Serves `app` on `listener` — over TLS when `tls` names a certificate and key, plain HTTP
/// otherwise — until `shutdown` resolves, then drains (see [`run`]).
pub async fn serve(
    listener: TcpListener,
    app: NormalizePath<Router>,
    tls: Option<&TlsFiles>,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    match tls {
        None => {
            let plain = axum_server::accept::DefaultAcceptor;
            run(listener, app, plain, limits, shutdown).await?
        }
        Some(files) => {
            // The handshake counts against the head bound: a client that stalls in it is cut
            // off as one that stalls in its request head.
            let rustls = RustlsAcceptor::new(crate::tls::server_config(files)?)
                .handshake_timeout(limits.header_read_timeout);
            let acceptor = crate::tls::IdentifyingAcceptor(rustls);
            run(listener, app, acceptor, limits, shutdown).await?
        }
    }
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains: stops accepting, lets
/// requests in flight finish (at most 30 s, `SHUTDOWN_GRACE`) and closes every connection.
/// `acceptor` turns each TCP stream into the stream HTTP runs on (TLS, or the stream itself).
pub async fn run<S, A>(
    listener: TcpListener,
    app: S,
    acceptor: A,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Clone + Send + 'static,
    A: Accept<Timed<TcpStream>, AddExtension<S, ConnectInfo<SocketAddr>>>
        + Clone
        + Send
        + Sync
        + 'static,
    A::Future: Send,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A::Service: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    <A::Service as Service<Request>>::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (phase, watch) = watch::channel(Phase::Serving);
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's default of 200 streams per HTTP/2 connection would let one connection buffer
    // 200 request bodies at once; HTTP/1.1 has one at a time.
    builder
        .http2()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        // A slot first, then accept: beyond the cap, clients wait in the accept queue rather
        // than costing a task and buffers each.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(
            Connection {
                tcp,
                peer,
                limits: limits.clone(),
                builder: builder.clone(),
                phase: watch.clone(),
                _slot: permit,
            },
            app.clone(),
            acceptor.clone(),
        ));
    }
    // Refuse new connections at once rather than leave them queued unanswered.
    drop(listener);
    let _ = phase.send(Phase::Draining);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {SHUTDOWN_GRACE:?}; closing their connections"
        );
        let _ = phase.send(Phase::Stopped);
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
    Ok(())
}

/// One accepted connection and what serving it needs.
struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    limits: HttpLimits,
    builder: Arc<Builder<TokioExecutor>>,
    phase: watch::Receiver<Phase>,
    /// Held until the connection ends: one of `max_connections`.
    _slot: OwnedSemaphorePermit,
}

async fn connection<S, A>(mut conn: Connection, app: S, acceptor: A)
where
    A: Accept<Timed<TcpStream>, AddExtension<S, ConnectInfo<SocketAddr>>>,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A::Service: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    <A::Service as Service<Request>>::Future: Send + 'static,
{
    let clock = Arc::new(Clock::new(&conn.limits));
    let io = Timed::new(conn.tcp, clock.clone());
    // The peer address reaches handlers as axum's `ConnectInfo` (auth's per-address limits).
    let service = Extension(ConnectInfo(conn.peer)).layer(app);
    let accepted = tokio::select! {
        accepted = acceptor.accept(io, service) => accepted,
        () = reached(&mut conn.phase, |p| p != Phase::Serving) => return,
    };
    let (stream, service) = match accepted {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::debug!(peer = %conn.peer, error = %e, "connection not accepted");
            return;
        }
    };
    let service = TowerToHyperService::new(Counted {
        inner: service,
        clock: clock.clone(),
        body_timeout: conn.limits.body_read_timeout,
    });
    let http = conn
        .builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(http);
    let ended = tokio::select! {
        ended = http.as_mut() => Some(ended),
        () = reached(&mut conn.phase, |p| p != Phase::Serving) => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            // Idle HTTP/1 connections close now, HTTP/2 ones get GOAWAY, and ones that are
            // still sending a request head are cut off; requests in flight finish first.
            clock.drain();
            http.as_mut().graceful_shutdown();
            tokio::select! {
                ended = http.as_mut() => ended,
                () = reached(&mut conn.phase, |p| p == Phase::Stopped) => Ok(()),
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(peer = %conn.peer, error = %e, "connection closed");
    }
}

/// Resolves once the server's phase satisfies `done` (or the server is gone).
async fn reached(phase: &mut watch::Receiver<Phase>, done: impl Fn(Phase) -> bool) {
    let _ = phase.wait_for(|p| done(*p)).await;
}

/// When a connection has been idle or mid-head since, and whether a request is in flight: the
/// I/O reads it to decide whether a stalled client has run out of time.
struct Clock {
    header_read: Duration,
    idle: Duration,
    state: Mutex<ClockState>,
}

struct ClockState {
    in_flight: usize,
    /// When the last request ended (or the connection was accepted).
    idle_since: Instant,
    /// When the first byte after `idle_since` arrived: a request head has begun.
    head_started: Option<Instant>,
    /// The task reading the connection, woken when the last request ends so that its idle
    /// clock starts even if it is already waiting.
    reader: Option<Waker>,
    /// The server is shutting down: a request head not yet complete will not be answered.
    draining: bool,
}

impl Clock {
    fn new(limits: &HttpLimits) -> Clock {
        let now = Instant::now();
        Clock {
            header_read: limits.header_read_timeout,
            idle: limits.idle_timeout,
            state: Mutex::new(ClockState {
                in_flight: 0,
                idle_since: now,
                // A new connection owes its first request head from the start.
                head_started: Some(now),
                reader: None,
                draining: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the connection is to be closed unless a request starts; none while one is in flight.
    fn deadline(&self) -> Option<Instant> {
        let s = self.state();
        (s.in_flight == 0).then(|| match s.head_started {
            Some(_) if s.draining => Instant::now(),
            Some(started) => started + self.header_read,
            None => s.idle_since + self.idle,
        })
    }

    /// Cuts off a request head in progress now (an idle connection hyper closes itself).
    fn drain(&self) {
        let mut s = self.state();
        s.draining = true;
        if let Some(reader) = s.reader.take() {
            reader.wake();
        }
    }

    fn received(&self) {
        let mut s = self.state();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
        }
    }

    fn waiting(&self, waker: &Waker) {
        let mut s = self.state();
        if !s.reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            s.reader = Some(waker.clone());
        }
    }

    fn request_started(&self) {
        self.state().in_flight += 1;
    }

    fn request_ended(&self) {
        let mut s = self.state();
        s.in_flight -= 1;
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.head_started = None;
            if let Some(reader) = s.reader.take() {
                reader.wake();
            }
        }
    }
}

/// A connection's stream that fails its reads and writes once the `Clock`'s deadline passes
/// with no request in flight: how stalled clients are cut off, whatever protocol phase (TLS
/// handshake, HTTP version detection, request head, keep-alive) they stall in.
///
/// Writes have a bound of their own: a write the client does not take (it stopped reading)
/// fails once it has made no progress for the idle bound, request in flight or not.
pub struct Timed<S> {
    io: S,
    clock: Arc<Clock>,
    sleep: Pin<Box<Sleep>>,
    /// Since when writes have been refused by a full socket buffer, if they are.
    write_stalled: Option<Instant>,
    write_sleep: Pin<Box<Sleep>>,
}

impl<S> Timed<S> {
    fn new(io: S, clock: Arc<Clock>) -> Timed<S> {
        let sleep = Box::pin(tokio::time::sleep(Duration::ZERO));
        let write_sleep = Box::pin(tokio::time::sleep(Duration::ZERO));
        Timed {
            io,
            clock,
            sleep,
            write_stalled: None,
            write_sleep,
        }
    }

    /// What a write that returned `polled` amounts to: progress resets the stall clock; a
    /// write pending past the connection's deadline or the stall bound fails.
    fn written<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if !polled.is_pending() {
            self.write_stalled = None;
            return polled;
        }
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        let now = Instant::now();
        let deadline = *self.write_stalled.get_or_insert(now) + self.clock.idle;
        if deadline <= now {
            return Poll::Ready(Err(timed_out()));
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.write_sleep.deadline() != deadline {
            self.write_sleep.as_mut().reset(deadline);
        }
        match self.write_sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether the deadline has passed; if not, the task is woken when it does.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.clock.deadline() else {
            return false;
        };
        if deadline <= Instant::now() {
            return true;
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client too slow or idle too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.clock.received();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                self.clock.waiting(cx.waker());
                if self.expired(cx) {
                    Poll::Ready(Err(timed_out()))
                } else {
                    Poll::Pending
                }
            }
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.written(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.written(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The app behind a connection: counts requests in flight for the [`Clock`] and gives each
/// request body its deadline.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    clock: Arc<Clock>,
    body_timeout: Duration,
}

/// A request in flight; dropped when it is answered or abandoned.
struct InFlight(Arc<Clock>);

impl InFlight {
    fn new(clock: Arc<Clock>) -> InFlight {
        clock.request_started();
        InFlight(clock)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

impl<S> Service<hyper::Request<Incoming>> for Counted<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is awaited per request below, on a clone (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(self.clock.clone());
        let timeout = self.body_timeout;
        let req = req.map(|body| Body::new(BodyDeadline::new(body, timeout)));
        let inner = self.inner.clone();
        Box::pin(async move {
            // The request stays in flight until its response is sent (hyper drops the body
            // then): a long download is not idle time. A client that stops reading is bounded
            // by the write stall in `Timed` instead.
            let response = inner.oneshot(req).await;
            response.map(|r| {
                r.map(|body| {
                    Body::new(Sending {
                        body,
                        _in_flight: in_flight,
                    })
                })
            })
        })
    }
}

/// A request body that fails with [`BodyTimedOut`] unless it has arrived whole by a deadline
/// set when its head arrived.
struct BodyDeadline {
    body: Incoming,
    sleep: Pin<Box<Sleep>>,
}

impl BodyDeadline {
    fn new(body: Incoming, timeout: Duration) -> BodyDeadline {
        BodyDeadline {
            body,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl hyper::body::Body for BodyDeadline {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match hyper::body::Body::poll_frame(Pin::new(&mut self.body), cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}

/// A response body on its way out; its request counts as in flight until it is dropped.
struct Sending {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Sending {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        hyper::body::Body::poll_frame(Pin::new(&mut self.body), cx)
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}
