//! OpenAPI schemas for the request bodies (the wire types live in the pure protocol crate,
//! which does not depend on utoipa), and the rendered document served at `/openapi.json`.

use utoipa::{OpenApi, ToSchema};

/// One signed transaction.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation-only mirror of ledger_protocol::wire::SubmitTx")]
pub struct SubmitTxDoc {
    /// Hex of the transaction's canonical signed bytes.
    tx: String,
}

/// Several signed transactions, committed in order.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation-only mirror of ledger_protocol::wire::SubmitBatch")]
pub struct SubmitBatchDoc {
    /// Hex of each transaction's canonical signed bytes (at most 2048).
    txs: Vec<String>,
}

/// Every error: a stable code and a sentence.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation-only mirror of ledger_protocol::wire::ErrorBody")]
pub struct ErrorDoc {
    /// Stable machine-readable code, e.g. `consent_expired`.
    code: String,
    /// What was wrong and what to do, for people.
    message: String,
}

/// The OpenAPI document as JSON text.
pub fn document() -> String {
    crate::api::ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
