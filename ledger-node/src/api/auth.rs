//! Who is asking. A caller proves who they are with a signed request in the
//! `Authorization: HealthChain <hex>` header (see `wire::ApiRequest`): it is checked once per
//! request (chain, this node as its audience, method and path, the body's hash, the time
//! window, the signature), and its nonce is remembered for the window so that it is accepted
//! only once. Handlers then get a `Caller` and decide what that person may see (`entitled`).

use super::{ApiError, ApiResult, AppState};
use crate::ledger::now_ms;
use crate::verify::Secp256k1Verifier;
use axum::extract::{Request, State};
use axum::http::{Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ledger_protocol::wire::{self, API_NONCE_LEN, API_REQUEST_WINDOW_MS, SignedApiRequest};
use ledger_protocol::{Address, ErrorKind, Hash};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most nonces remembered at once: at the window of 60 s, about 16,000 signed requests a
/// second. Beyond it the node answers 503 rather than forget a nonce early.
const MAX_REMEMBERED: usize = 1_000_000;

/// The nonces of accepted signed requests, until their window ends.
#[derive(Default)]
pub struct ReplayCache {
    seen: Mutex<HashMap<(Address, Vec<u8>), u64>>,
}

impl ReplayCache {
    /// Remembers `nonce` of `who` until `expires_ms`; refuses one already seen.
    fn accept_once(&self, who: Address, nonce: &[u8], expires_ms: u64, now_ms: u64) -> ApiResult<()> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_REMEMBERED / 2 {
            seen.retain(|_, until| *until > now_ms);
        }
        if seen.len() >= MAX_REMEMBERED {
            return Err(ApiError::unavailable(
                "The node is answering too many signed requests right now. Try again in a minute.",
            ));
        }
        match seen.get(&(who, nonce.to_vec())) {
            Some(until) if *until > now_ms => Err(unauthenticated(
                "replayed_request",
                "This signed request was already used; each is accepted once. Sign a new one (the portal does this for every request).",
            )),
            _ => {
                seen.insert((who, nonce.to_vec()), expires_ms);
                Ok(())
            }
        }
    }
}

/// The person behind a signed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedBy {
    pub address: Address,
    body_hash: Hash,
}

/// Who asks: `None` for an anonymous request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller(pub Option<SignedBy>);

fn unauthenticated(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, code, message)
}

impl Caller {
    /// The signed-in caller, or the 401 an anonymous request about a person gets.
    pub fn required(&self) -> ApiResult<Address> {
        self.0.map(|c| c.address).ok_or_else(|| {
            unauthenticated(
                "unauthenticated",
                "This answer is about a person: sign the request with your wallet (an Authorization: HealthChain header, as the portal sends).",
            )
        })
    }
    pub fn address(&self) -> Option<Address> {
        self.0.map(|c| c.address)
    }
    /// For a request with a body: the body must be the one that was signed.
    pub fn check_body(&self, body: &[u8]) -> ApiResult<Address> {
        let who = self.required()?;
        match self.0 {
            Some(c) if c.body_hash == wire::body_hash(body) => Ok(who),
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
                .and_then(|v| check(&s, v, req.method(), req.uri(), now_ms()));
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
    if r.nonce.len() != API_NONCE_LEN {
        return Err(unauthenticated(
            "bad_authorization",
            format!("The request's nonce must be {API_NONCE_LEN} random bytes."),
        ));
    }
    if (*method == Method::GET || *method == Method::HEAD) && r.body_hash != wire::body_hash(b"") {
        return Err(unauthenticated("wrong_request", "A signed read must sign an empty body."));
    }
    if now.abs_diff(r.timestamp_ms) > API_REQUEST_WINDOW_MS {
        return Err(unauthenticated(
            "stale_request",
            format!(
                "The request was signed more than {} seconds away from the node's clock. Check your device's clock and try again.",
                API_REQUEST_WINDOW_MS / 1000
            ),
        ));
    }
    if !signed.verify(&Secp256k1Verifier) {
        return Err(unauthenticated(
            "bad_signature",
            "The request's signature does not match it; it may have been altered. Sign it again.",
        ));
    }
    let address = r.signer.address();
    s.0.replay.accept_once(address, &r.nonce, r.timestamp_ms.max(now) + API_REQUEST_WINDOW_MS, now)?;
    Ok(SignedBy { address, body_hash: r.body_hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_within_its_window() {
        let cache = ReplayCache::default();
        let who = Address([1; 20]);
        assert!(cache.accept_once(who, &[1; 16], 1_000, 0).is_ok());
        let again = cache.accept_once(who, &[1; 16], 1_000, 10).unwrap_err();
        assert_eq!(again.code, "replayed_request");
        assert!(cache.accept_once(Address([2; 20]), &[1; 16], 1_000, 10).is_ok(), "another signer's nonce");
        assert!(cache.accept_once(who, &[2; 16], 1_000, 10).is_ok(), "another nonce");
        assert!(cache.accept_once(who, &[1; 16], 2_000, 1_001).is_ok(), "after its window");
    }
}
