//! Record envelopes (the `envelope` crate, shared with the node), with unwrapping by a
//! wallet's identity.

use crate::keys::Identity;
pub use envelope::{
    ENVELOPE_VERSION, EnvelopeError, RECORD_KEY_LEN, RecordKey, SEAL_OVERHEAD, WRAP_VERSION, WRAPPED_KEY_LEN, blob_id,
    content_hash, open, seal, seal_with, wrap_key,
};

/// Unwraps a record key wrapped for this identity's encryption key.
pub fn unwrap_key(identity: &Identity, wrapped: &[u8]) -> Result<RecordKey, EnvelopeError> {
    envelope::unwrap_key(identity.encryption_secret(), wrapped)
}
