//! Error answers of the API: a kind (which alone decides the HTTP status), a stable code
//! and a sentence; and the parsing of request bodies and path ids into such errors.

use crate::ledger::OrderError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger_protocol::wire::ErrorBody;
use ledger_protocol::{ErrorKind, Rejection};

/// An error answer: its kind, stable code, sentence.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    /// Seconds to wait before trying again (`Retry-After`), for an answer over a limit.
    pub retry_after: Option<u64>,
}

/// The HTTP status of each kind of error (no wildcard: a new kind must choose one).
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Malformed => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        ApiError { kind, code: code.into(), message: message.into(), retry_after: None }
    }
    /// The same error, telling the client to wait `seconds` (at least one) first.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
    pub fn status(&self) -> StatusCode {
        status_for(self.kind)
    }
    pub fn not_found(code: &str, what: &str) -> Self {
        Self::new(ErrorKind::NotFound, code, format!("No {what} with that id exists on this ledger."))
    }
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, code, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, "unavailable", message)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal",
            "The node hit an internal error; it has been logged. Try again later.",
        )
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ErrorBody::from(&r).into()
    }
}

impl From<ErrorBody> for ApiError {
    fn from(e: ErrorBody) -> Self {
        ApiError { kind: e.kind, code: e.code, message: e.message, retry_after: None }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::TooLarge(why) => ApiError::new(ErrorKind::TooLarge, "too_large", why),
            OrderError::DiskLow(why) => ApiError::new(ErrorKind::Unavailable, "disk_low", why).retry_after(60),
            e => ApiError::unavailable(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            // A full or failing disk is the operator's to fix, and says so; the client may
            // try again later.
            crate::store::StoreError::Disk(_) => ApiError::new(
                ErrorKind::Unavailable,
                "disk_unavailable",
                format!("The node cannot store this now: {e}."),
            )
            .retry_after(30),
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r =
            (status, Json(ErrorBody { code: self.code, message: self.message, kind: self.kind })).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> ApiResult<Bytes> {
    match body {
        Ok(b) => Ok(b),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            ErrorKind::TooLarge,
            "too_large",
            format!("The request body is larger than the limit of {limit} bytes."),
        )),
        Err(e) => Err(ApiError::bad_request("bad_request", format!("The request body could not be read: {e}"))),
    }
}

pub fn parse_json<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let bytes = body_bytes(body, super::MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("The request body is not the JSON this endpoint expects: {e}."))
    })
}

pub fn parse_hex_tx(s: &str) -> ApiResult<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|_| ApiError::bad_request("malformed", "The transaction is not hex of its canonical bytes."))
}

pub fn parse_id<T: std::str::FromStr>(s: &str, what: &str) -> ApiResult<T> {
    s.parse().map_err(|_| ApiError::bad_request("bad_request", format!("'{s}' is not a valid {what}.")))
}
