//! Who is asking. A caller proves who they are with a signed request in the
//! `Authorization: HealthChain <hex>` header (see `wire::ApiRequest`): it is checked once per
//! request (chain, this node as its audience, method and path, the body's hash, the time
//! window, the signature), and its nonce is remembered for the window so that it is accepted
//! only once. Handlers then get a `Caller` and decide what that person may see (`entitled`).

use super::{ApiError, ApiResult, AppState};
use crate::verify::Secp256k1Verifier;
use axum::extract::{Request, State};
use axum::http::{Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ledger_protocol::wire::{self, API_NONCE_LEN, API_REQUEST_WINDOW_MS, SignedApiRequest};
use ledger_protocol::{Address, ErrorKind};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Mutex;

/// Most nonces remembered at once: at the window of 60 s (either side), about 8,000 signed
/// requests a second. Beyond it the node answers 503 rather than forget a nonce early.
const MAX_REMEMBERED: usize = 1_000_000;
/// Most nonces one registered account holds at once (about 25 requests a second, sustained):
/// one busy account slows itself, not everyone else.
const MAX_PER_ACCOUNT: u32 = 3_000;
/// Most nonces held for all signers that are not registered accounts together: a flood from
/// throwaway keys (which are entitled to nothing) fills this share, never the accounts'.
const MAX_UNREGISTERED: usize = 50_000;

/// Whether a request signed at `signed_ms` is within its window at `now_ms`. The replay cache
/// remembers a nonce for as long as this holds, so the two cannot disagree at the edge.
pub fn within_window(signed_ms: u64, now_ms: u64) -> bool {
    now_ms.abs_diff(signed_ms) <= API_REQUEST_WINDOW_MS
}

type NonceKey = (Address, [u8; API_NONCE_LEN]);

#[derive(Default)]
struct Remembered {
    seen: HashSet<NonceKey>,
    /// Soonest expiry first: forgetting costs only what is forgotten.
    expiry: BinaryHeap<Reverse<(u64, NonceKey, bool)>>,
    per_account: HashMap<Address, u32>,
    unregistered: usize,
}

/// The nonces of accepted signed requests, until their window ends. They are kept in memory
/// only: a request signed before `started_ms` is refused, so none remembered before a
/// restart can be replayed after it.
#[derive(Default)]
pub struct ReplayCache {
    inner: Mutex<Remembered>,
    pub started_ms: u64,
}

impl ReplayCache {
    /// A cache for a node that started at `started_ms`.
    pub fn new(started_ms: u64) -> Self {
        ReplayCache { inner: Mutex::default(), started_ms }
    }

    /// Accepts `nonce` of `who`, signed at `signed_ms`, once: it is remembered while the
    /// request is `within_window`. `registered` says whether `who` is an account.
    fn accept_once(
        &self,
        who: Address,
        nonce: [u8; API_NONCE_LEN],
        registered: bool,
        signed_ms: u64,
        now_ms: u64,
    ) -> ApiResult<()> {
        let mut m = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(Reverse((until, key, was_registered))) = m.expiry.peek().copied() {
            // Remembered while `within_window(signed, now)`: until `signed + window`.
            if until >= now_ms {
                break;
            }
            m.expiry.pop();
            m.seen.remove(&key);
            if was_registered {
                if let Some(n) = m.per_account.get_mut(&key.0) {
                    *n -= 1;
                    if *n == 0 {
                        m.per_account.remove(&key.0);
                    }
                }
            } else {
                m.unregistered -= 1;
            }
        }
        let key = (who, nonce);
        if m.seen.contains(&key) {
            return Err(unauthenticated(
                "replayed_request",
                "This signed request was already used; each is accepted once. Sign a new one (the portal does this for every request).",
            ));
        }
        let busy = || {
            ApiError::unavailable("The node is answering too many signed requests right now. Try again in a minute.")
        };
        if registered {
            if m.per_account.get(&who).copied().unwrap_or(0) >= MAX_PER_ACCOUNT {
                return Err(ApiError::unavailable(format!(
                    "This account sent more than {MAX_PER_ACCOUNT} signed requests in two minutes. Wait a minute and try again."
                )));
            }
        } else if m.unregistered >= MAX_UNREGISTERED {
            return Err(busy());
        }
        if m.seen.len() >= MAX_REMEMBERED {
            return Err(busy());
        }
        m.seen.insert(key);
        m.expiry.push(Reverse((signed_ms + API_REQUEST_WINDOW_MS, key, registered)));
        if registered {
            *m.per_account.entry(who).or_insert(0) += 1;
        } else {
            m.unregistered += 1;
        }
        Ok(())
    }
}

/// The person behind a signed request, and the request (an access event carries it, so the
/// reader's own signature backs the audit line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    pub address: Address,
    pub request: std::sync::Arc<SignedApiRequest>,
}

/// Who asks: `None` for an anonymous request.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<SignedBy>);

fn unauthenticated(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, code, message)
}

impl Caller {
    /// The signed-in caller, or the 401 an anonymous request about a person gets.
    pub fn required(&self) -> ApiResult<Address> {
        self.address().ok_or_else(|| {
            unauthenticated(
                "unauthenticated",
                "This answer is about a person: sign the request with your wallet (an Authorization: HealthChain header, as the portal sends).",
            )
        })
    }
    pub fn address(&self) -> Option<Address> {
        self.0.as_ref().map(|c| c.address)
    }
    /// The signed request, for a signed-in caller.
    pub fn request(&self) -> Option<&SignedApiRequest> {
        self.0.as_ref().map(|c| &*c.request)
    }
    /// For a request with a body: the body must be the one that was signed.
    pub fn check_body(&self, body: &[u8]) -> ApiResult<Address> {
        let who = self.required()?;
        match &self.0 {
            Some(c) if c.request.request.body_hash == wire::body_hash(body) => Ok(who),
            _ => Err(unauthenticated(
                "wrong_request",
                "The request's body is not the one that was signed. Sign the request again.",
            )),
        }
    }
}

/// Middleware: checks a signed request, if there is one, and hands the `Caller` on. A request
/// whose signature or binding fails is answered 401 here, with what was wrong.
pub async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = match req.headers().get(header::AUTHORIZATION) {
        None => Caller(None),
        Some(value) => {
            let checked = value
                .to_str()
                .map_err(|_| unauthenticated("bad_authorization", "The Authorization header is not text."))
                .and_then(|v| check(&s, v, req.method(), req.uri(), s.now_ms()));
            match checked {
                Ok(c) => Caller(Some(c)),
                Err(e) => {
                    s.0.metrics.request_refused(&e.code);
                    return e.into_response();
                }
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Checks one signed request against this node and this HTTP request at `now`.
fn check(s: &AppState, value: &str, method: &Method, uri: &Uri, now: u64) -> ApiResult<SignedBy> {
    let signed = SignedApiRequest::from_header(value).map_err(|why| {
        unauthenticated(
            "bad_authorization",
            format!("The signed request is not valid: {why}. Sign it again with an up-to-date wallet."),
        )
    })?;
    let r = &signed.request;
    let chain = &s.0.ledger.genesis.chain_id;
    if r.chain_id != *chain {
        return Err(unauthenticated(
            "wrong_chain",
            format!("The request was signed for chain \"{}\" but this node serves \"{chain}\".", r.chain_id),
        ));
    }
    if r.audience != s.node_address() {
        return Err(unauthenticated(
            "wrong_audience",
            "The request was signed for another node. Sign it for this one (its authority address is in /v1/info).",
        ));
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    if r.method != method.as_str() || r.path != path {
        return Err(unauthenticated(
            "wrong_request",
            format!("The request was signed for {} {}, not for {method} {path}.", r.method, r.path),
        ));
    }
    let Ok(nonce) = <[u8; API_NONCE_LEN]>::try_from(r.nonce.as_slice()) else {
        return Err(unauthenticated(
            "bad_authorization",
            format!("The request's nonce must be {API_NONCE_LEN} random bytes."),
        ));
    };
    if (*method == Method::GET || *method == Method::HEAD) && r.body_hash != wire::body_hash(b"") {
        return Err(unauthenticated("wrong_request", "A signed read must sign an empty body."));
    }
    if !within_window(r.timestamp_ms, now) {
        return Err(unauthenticated(
            "stale_request",
            format!(
                "The request was signed more than {} seconds away from the node's clock. Check your device's clock and try again.",
                API_REQUEST_WINDOW_MS / 1000
            ),
        ));
    }
    if r.timestamp_ms < s.0.replay.started_ms {
        // The nonces this node remembered before it started are gone: a request signed
        // before then may have been used already.
        return Err(unauthenticated(
            "stale_request",
            "The request was signed before this node last started, so it may have been used already. Sign it again; if this repeats, your device's clock is behind.",
        ));
    }
    if !signed.verify(&Secp256k1Verifier) {
        return Err(unauthenticated(
            "bad_signature",
            "The request's signature does not match it; it may have been altered. Sign it again.",
        ));
    }
    // The account the key signs for (a key an authority replaced signs for nothing).
    let (address, registered) = {
        let head = s.0.ledger.head();
        match head.state.signer_account(&r.signer) {
            Ok(a) => (a.address, true),
            Err(ledger_protocol::Rejection::KeyReplaced { .. }) => {
                return Err(unauthenticated(
                    "key_replaced",
                    "This key was replaced by the hospital and no longer signs for its account. Use the wallet with the new key.",
                ));
            }
            Err(_) => (r.signer.address(), false),
        }
    };
    s.0.replay.accept_once(address, nonce, registered, r.timestamp_ms, now)?;
    Ok(SignedBy { address, request: std::sync::Arc::new(signed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = API_REQUEST_WINDOW_MS;

    #[test]
    fn a_nonce_is_accepted_once_within_its_window() {
        let cache = ReplayCache::default();
        let who = Address([1; 20]);
        assert!(cache.accept_once(who, [1; 16], true, 0, 0).is_ok());
        let again = cache.accept_once(who, [1; 16], true, 0, 10).unwrap_err();
        assert_eq!(again.code, "replayed_request");
        assert!(cache.accept_once(Address([2; 20]), [1; 16], true, 0, 10).is_ok(), "another signer's nonce");
        assert!(cache.accept_once(who, [2; 16], true, 0, 10).is_ok(), "another nonce");
    }

    #[test]
    fn a_nonce_is_remembered_for_as_long_as_its_request_is_in_the_window() {
        // At the last millisecond the window accepts, the first use passes and a replay does
        // not; one millisecond later the window itself refuses it.
        for signed in [W, 5 * W] {
            for first in [signed - W, signed, signed + W] {
                let cache = ReplayCache::default();
                let who = Address([1; 20]);
                assert!(within_window(signed, first));
                cache.accept_once(who, [9; 16], true, signed, first).unwrap();
                for later in first..=signed + W {
                    if later % 997 != 0 && later != signed + W {
                        continue;
                    }
                    // Other traffic at `later` makes the cache forget what has expired.
                    cache.accept_once(Address([7; 20]), (later as u128).to_be_bytes(), true, later, later).ok();
                    let replay = cache.accept_once(who, [9; 16], true, signed, later).unwrap_err();
                    assert_eq!(replay.code, "replayed_request", "signed {signed}, first {first}, replayed {later}");
                }
                assert!(!within_window(signed, signed + W + 1));
            }
        }
    }

    #[test]
    fn throwaway_keys_cannot_crowd_out_accounts() {
        let cache = ReplayCache::default();
        for i in 0..MAX_UNREGISTERED as u64 {
            let mut a = [0; 20];
            a[..8].copy_from_slice(&i.to_be_bytes());
            cache.accept_once(Address(a), [1; 16], false, 0, 0).unwrap();
        }
        let flood = cache.accept_once(Address([0xff; 20]), [1; 16], false, 0, 0).unwrap_err();
        assert_eq!(flood.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(cache.accept_once(Address([1; 20]), [1; 16], true, 0, 0).is_ok(), "an account is still answered");
        // Once their window has passed, the throwaway nonces are forgotten.
        assert!(cache.accept_once(Address([0xff; 20]), [1; 16], false, 2 * W + 1, 2 * W + 1).is_ok());
        assert_eq!(cache.inner.lock().unwrap().unregistered, 1);
    }

    #[test]
    fn one_busy_account_slows_only_itself() {
        let cache = ReplayCache::default();
        let busy = Address([1; 20]);
        for i in 0..MAX_PER_ACCOUNT as u128 {
            cache.accept_once(busy, i.to_be_bytes(), true, 0, 0).unwrap();
        }
        let refused = cache.accept_once(busy, [0xee; 16], true, 0, 0).unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.message.contains("This account"), "{}", refused.message);
        assert!(cache.accept_once(Address([2; 20]), [0xee; 16], true, 0, 0).is_ok());
        assert!(cache.accept_once(busy, [0xee; 16], true, 2 * W + 1, 2 * W + 1).is_ok(), "after the window");
    }
}
