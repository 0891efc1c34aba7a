//! Limits on the public port, so that one client cannot take the node from everyone else: a
//! request rate per IP address and per signed-in account (token buckets of the `governor`
//! crate, through `tower_governor`), transactions per IP address and new patient accounts
//! per IP address by the hour (`SiteAllowance`, checked by the submission service, which
//! sees what a request holds), a cap on requests being
//! handled at once (more are shed), a cap on open connections, and time limits on reading a
//! request's headers and on a whole request. Over a limit a client gets `429` or `503` with
//! `Retry-After` and a sentence that says what to do. Limits act before a request is handled,
//! so nothing already acknowledged is touched and nothing half-done is left.

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use ledger_protocol::{Address, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

/// A sustained rate with the burst it allows: `per_sec` requests a second on average, up to
/// `burst` at once. `per_sec == 0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_sec: u32,
    pub burst: u32,
}

impl Rate {
    /// `per_sec` a second, with bursts of five seconds' worth.
    pub fn per_sec(per_sec: u32) -> Rate {
        Rate { per_sec, burst: per_sec.saturating_mul(5).max(1) }
    }
    pub const UNLIMITED: Rate = Rate { per_sec: 0, burst: 0 };
}

/// What one account may have uploaded that no record anchors yet, by default (`Limits`): a
/// whole imported history, or a few large twin cases. More is refused until some are
/// anchored or removed; an upload no record anchors within a day is removed.
pub const UPLOAD_QUOTA: crate::store::UploadQuota =
    crate::store::UploadQuota { max_count: 5000, max_bytes: 512 * 1024 * 1024, kept_ms: 24 * 3600 * 1000 };

/// Free disk space, by default, that uploads may not eat into (`Limits::upload_reserve_bytes`).
pub const UPLOAD_RESERVE_MIB: u64 = 256;

/// Free disk space, by default, below which no block is cut (`Limits::ledger_reserve_bytes`):
/// room for the largest append a leader sends (two blocks, in the Raft log and in the chain)
/// several times over.
pub const LEDGER_RESERVE_MIB: u64 = 64;

/// What the public port allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Requests from one IP address (a hospital's clients behind one NAT share it: generous).
    pub per_address: Rate,
    /// Signed requests by one account.
    pub per_account: Rate,
    /// Requests being handled at once; more are answered 503 at once (0: no cap).
    pub max_in_flight: usize,
    /// Open connections; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// The longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// The longest a whole request may take, its body included.
    pub request_timeout: Duration,
    /// What one account may have uploaded that no record anchors yet.
    pub uploads: crate::store::UploadQuota,
    /// New patient accounts one IP address may register in an hour (bursts of a tenth of
    /// that): each is on the ledger for good. 0: no limit.
    pub registrations_per_hour: u32,
    /// Transactions from one IP address (each is verified: a batch counts for what it holds).
    pub txs_per_address: Rate,
    /// Free disk space uploads may not eat into: below it they are refused, so that blocks
    /// (and the records anchoring what was uploaded) can always be committed.
    pub upload_reserve_bytes: u64,
    /// Free disk space below which the node cuts no block and, in a cluster, takes none from
    /// its leader: transactions are refused (503 disk_low) before the disk is full, since a
    /// Raft engine whose log write fails stops for good. 0: no reserve.
    pub ledger_reserve_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_address: Rate::per_sec(200),
            per_account: Rate::per_sec(100),
            max_in_flight: 512,
            max_connections: 1000,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            uploads: UPLOAD_QUOTA,
            registrations_per_hour: 600,
            txs_per_address: Rate { per_sec: 2000, burst: 20_000 },
            upload_reserve_bytes: UPLOAD_RESERVE_MIB * 1024 * 1024,
            ledger_reserve_bytes: LEDGER_RESERVE_MIB * 1024 * 1024,
        }
    }
}

/// The limits a hospital sets: flags of `ledger-node serve`, or a cluster file's `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Requests a second from one IP address, sustained (bursts of five seconds' worth); 0: no limit.
    #[arg(long, default_value_t = LimitSettings::default().rate_per_address)]
    pub rate_per_address: u32,
    /// Signed requests a second by one account, sustained (bursts of five seconds' worth); 0: no limit.
    #[arg(long, default_value_t = LimitSettings::default().rate_per_account)]
    pub rate_per_account: u32,
    /// Requests handled at once; more are answered 503 at once. 0: no cap.
    #[arg(long, default_value_t = LimitSettings::default().max_in_flight)]
    pub max_in_flight: usize,
    /// Connections open at once; more wait until one closes.
    #[arg(long, default_value_t = LimitSettings::default().max_connections)]
    pub max_connections: usize,
    /// New patient accounts one IP address may register in an hour (bursts of a tenth of
    /// that); 0: no limit.
    #[arg(long, default_value_t = LimitSettings::default().registrations_per_hour)]
    pub registrations_per_hour: u32,
    /// Transactions a second from one IP address, sustained (bursts of ten seconds' worth;
    /// a batch counts for what it holds); 0: no limit.
    #[arg(long, default_value_t = LimitSettings::default().txs_per_address)]
    pub txs_per_address: u32,
    /// Free disk space (MiB) kept for the ledger: uploads that would leave less are refused
    /// (503 disk_low) while transactions and reads go on.
    #[arg(long, default_value_t = LimitSettings::default().upload_reserve_mib)]
    pub upload_reserve_mib: u64,
    /// Free disk space (MiB) below which no block is cut: transactions are refused (503
    /// disk_low) before the disk is full, and in a cluster the node takes no blocks from its
    /// leader until space is back. Keep it below the upload reserve; 0: none.
    #[arg(long, default_value_t = LimitSettings::default().ledger_reserve_mib)]
    pub ledger_reserve_mib: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let d = Limits::default();
        LimitSettings {
            rate_per_address: d.per_address.per_sec,
            rate_per_account: d.per_account.per_sec,
            max_in_flight: d.max_in_flight,
            max_connections: d.max_connections,
            registrations_per_hour: d.registrations_per_hour,
            txs_per_address: d.txs_per_address.per_sec,
            upload_reserve_mib: d.upload_reserve_bytes / (1024 * 1024),
            ledger_reserve_mib: d.ledger_reserve_bytes / (1024 * 1024),
        }
    }
}

impl LimitSettings {
    pub fn limits(&self) -> Limits {
        Limits {
            per_address: Rate::per_sec(self.rate_per_address),
            per_account: Rate::per_sec(self.rate_per_account),
            max_in_flight: self.max_in_flight,
            max_connections: self.max_connections,
            registrations_per_hour: self.registrations_per_hour,
            txs_per_address: Rate { per_sec: self.txs_per_address, burst: self.txs_per_address.saturating_mul(10) },
            upload_reserve_bytes: self.upload_reserve_mib.saturating_mul(1024 * 1024),
            ledger_reserve_bytes: self.ledger_reserve_mib.saturating_mul(1024 * 1024),
            ..Limits::default()
        }
    }
}

impl Limits {
    /// No rate limit and no cap on requests in flight (tests and benchmarks that stand in for
    /// many clients from one address); connections and timeouts stay bounded.
    pub fn unmetered() -> Self {
        Limits {
            per_address: Rate::UNLIMITED,
            per_account: Rate::UNLIMITED,
            max_in_flight: 0,
            registrations_per_hour: 0,
            txs_per_address: Rate::UNLIMITED,
            ..Limits::default()
        }
    }
}

/// Keys a request by its peer's address (IPv6 by its /64, what one site is usually given).
#[derive(Debug, Clone, Copy)]
pub struct PeerKey;

impl KeyExtractor for PeerKey {
    type Key = IpAddr;
    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| site_of(c.0.ip()))
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// The address a client is counted under: an IPv4 address, or an IPv6 address's /64.
pub fn site_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Something counted per site (an IP address; an IPv6 /64) and taken `n` at a time: new
/// patient accounts (`Limits::registrations_per_hour`) and transactions
/// (`Limits::txs_per_address`). Taken before anything is verified; over it, the whole
/// request is refused (429) and nothing of it is ordered.
pub struct SiteAllowance {
    limiter: Option<Arc<governor::DefaultKeyedRateLimiter<IpAddr>>>,
    /// The refusal's code, and its sentence given the seconds to wait.
    code: &'static str,
    says: fn(u64) -> String,
}

impl SiteAllowance {
    /// New patient accounts: `per_hour` an hour, in bursts of a tenth of that.
    pub fn registrations(per_hour: u32) -> Self {
        let quota = std::num::NonZeroU32::new(per_hour).map(|n| {
            let burst = std::num::NonZeroU32::new(per_hour / 10).unwrap_or(std::num::NonZeroU32::MIN);
            governor::Quota::per_hour(n).allow_burst(burst)
        });
        Self::new(quota, "registration_limited", |wait| {
            format!(
                "Too many new accounts were registered from this network address. Wait {wait} s (Retry-After) and try again, or ask the hospital."
            )
        })
    }

    /// Transactions (each is verified, a batch holds up to 2048): `rate`.
    pub fn transactions(rate: Rate) -> Self {
        let quota = std::num::NonZeroU32::new(rate.per_sec).map(|n| {
            let burst = std::num::NonZeroU32::new(rate.burst).unwrap_or(n);
            governor::Quota::per_second(n).allow_burst(burst)
        });
        Self::new(quota, "rate_limited", |wait| {
            format!(
                "Too many transactions were sent from this network address. Wait {wait} s (Retry-After) and try again, in smaller batches."
            )
        })
    }

    fn new(quota: Option<governor::Quota>, code: &'static str, says: fn(u64) -> String) -> Self {
        let limiter = quota.map(|q| {
            let limiter = Arc::new(governor::RateLimiter::keyed(q));
            forget_idle(limiter.clone());
            limiter
        });
        SiteAllowance { limiter, code, says }
    }

    pub fn is_on(&self) -> bool {
        self.limiter.is_some()
    }

    /// Takes `n` from the allowance of `peer` (its site), or says when to try again. A
    /// request the node cannot place (no peer address) is not limited here.
    pub fn take(&self, peer: Option<IpAddr>, n: usize) -> Result<(), ApiError> {
        let (Some(limiter), Some(peer), Some(n)) =
            (&self.limiter, peer, u32::try_from(n).ok().and_then(std::num::NonZeroU32::new))
        else {
            return Ok(());
        };
        use governor::clock::Clock;
        match limiter.check_key_n(&site_of(peer), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(limiter.clock().now()).as_secs_f64().ceil() as u64;
                Err(ApiError::new(ErrorKind::RateLimited, self.code, (self.says)(wait.max(1))).retry_after(wait))
            }
            Err(_) => Err(ApiError::new(
                ErrorKind::RateLimited,
                self.code,
                "More in one request than this node allows from one address at once; send fewer.",
            )
            .retry_after(1)),
        }
    }
}

/// The answer to a client over a limit: the error of `kind` (its status), `Retry-After`, and
/// a sentence.
pub(crate) fn over_limit(kind: ErrorKind, retry_after_s: u64, code: &str, message: String) -> Response<Body> {
    ApiError::new(kind, code, message).retry_after(retry_after_s).into_response()
}

fn governor_answer(what: &'static str) -> impl Fn(GovernorError) -> Response<Body> + Clone + Send + Sync + 'static {
    move |e| match e {
        GovernorError::TooManyRequests { wait_time, .. } => over_limit(
            ErrorKind::RateLimited,
            wait_time,
            "rate_limited",
            format!("Too many requests from {what}. Wait {} s (Retry-After) and try again.", wait_time.max(1)),
        ),
        GovernorError::UnableToExtractKey => over_limit(
            ErrorKind::Internal,
            1,
            "internal",
            "The node could not tell where the request came from.".into(),
        ),
        GovernorError::Other { msg, .. } => over_limit(
            ErrorKind::RateLimited,
            1,
            "rate_limited",
            msg.unwrap_or_else(|| "The request was refused.".into()),
        ),
    }
}

fn governor<K: KeyExtractor>(
    rate: Rate,
    key: K,
) -> Option<Arc<GovernorConfig<K, governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>>>> {
    if rate.per_sec == 0 {
        return None;
    }
    let period_ns = (1_000_000_000u64 / u64::from(rate.per_sec)).max(1);
    GovernorConfigBuilder::default()
        .period(Duration::from_nanos(period_ns))
        .burst_size(rate.burst.max(1))
        .key_extractor(key)
        .finish()
        .map(Arc::new)
}

/// Starts the task that forgets idle buckets once a minute, so a limiter's memory follows
/// the clients of the last minute, not every address or account ever seen.
fn forget_idle<K>(limiter: Arc<governor::DefaultKeyedRateLimiter<K>>)
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                limiter.retain_recent();
            }
        });
    }
}

/// The per-account limit, for routes behind `auth::authenticate` (which must wrap it, so the
/// signer is checked before it is counted: no one can spend someone else's allowance).
/// Unsigned requests are counted per address only.
pub fn per_account<S: Clone + Send + Sync + 'static>(router: Router<S>, limits: &Limits) -> Router<S> {
    let (Some(per_sec), Some(burst)) =
        (std::num::NonZeroU32::new(limits.per_account.per_sec), std::num::NonZeroU32::new(limits.per_account.burst))
    else {
        return router;
    };
    let limiter: Arc<governor::DefaultKeyedRateLimiter<Address>> =
        Arc::new(governor::RateLimiter::keyed(governor::Quota::per_second(per_sec).allow_burst(burst)));
    forget_idle(limiter.clone());
    router.layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
        let limiter = limiter.clone();
        async move {
            if let Some(a) = req.extensions().get::<Caller>().and_then(Caller::address)
                && let Err(not_until) = limiter.check_key(&a)
            {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(limiter.clock().now()).as_secs_f64().ceil() as u64;
                return over_limit(
                    ErrorKind::RateLimited,
                    wait,
                    "rate_limited",
                    format!("Too many requests by this account. Wait {} s (Retry-After) and try again.", wait.max(1)),
                );
            }
            next.run(req).await
        }
    }))
}

/// The limits on the whole public port: per address, in flight, request time.
pub fn outer(router: Router, limits: &Limits) -> Router {
    let mut router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    if limits.max_in_flight > 0 {
        router = router.layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(|_: tower::BoxError| async {
                    over_limit(
                        ErrorKind::Unavailable,
                        1,
                        "busy",
                        "The node is handling as many requests as it can. Try again in a second.".into(),
                    )
                }))
                .load_shed()
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(limits.max_in_flight)),
        );
    }
    if let Some(cfg) = governor(limits.per_address, PeerKey) {
        forget_idle(cfg.limiter().clone());
        router = router.layer(tower_governor::GovernorLayer::new(cfg).error_handler(governor_answer("this address")));
    }
    router
}

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` resolves: at most
/// `limits.max_connections` connections open at once (the next waits in the listen backlog
/// until one closes), each given `limits.header_timeout` to send a request's headers (an idle
/// keep-alive connection is closed after as long, and as long for a TLS handshake). With
/// `Listen::Mutual`, a client whose key is not listed never reaches the router. On shutdown,
/// requests being handled are let finish for up to ten seconds.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    listen: crate::tls::Listen,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use crate::tls::Listen;
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (router, watcher, listen) = (router.clone(), graceful.watcher(), listen.clone());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            match listen {
                Listen::Plain => connection(tcp, peer, None, router, header_timeout, watcher).await,
                Listen::Tls(acceptor) => {
                    if let Some(tls) = handshake(&acceptor, tcp, peer, header_timeout).await {
                        connection(tls, peer, None, router, header_timeout, watcher).await
                    }
                }
                Listen::Mutual(acceptor, trust) => {
                    if let Some(tls) = handshake(&acceptor, tcp, peer, header_timeout).await {
                        // The verifier let only a listed key through; which one it was:
                        let caller = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(crate::tls::pin_of)
                            .and_then(|pin| trust.caller(pin));
                        if caller.is_some() {
                            connection(tls, peer, caller, router, header_timeout, watcher).await
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still being handled ten seconds after shutdown began");
    }
    Ok(())
}

/// A TLS handshake, held to the same time limit as a request's headers.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    within: Duration,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    match tokio::time::timeout(within, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "a TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "a TLS handshake took longer than the header time limit");
            None
        }
    }
}

/// Serves one connection's HTTP/1.1 requests, each tagged with the client's address (and,
/// on a mutual-TLS port, who it proved to be), until it closes or the node shuts down.
async fn connection<IO>(
    io: IO,
    peer: SocketAddr,
    caller: Option<crate::tls::Caller>,
    router: Router,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        if let Some(c) = caller {
            req.extensions_mut().insert(c);
        }
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, %peer, "a connection ended with an error");
    }
}
