//! ledger-protocol: the pure rules of the health ledger. Identities, the thirteen
//! transaction kinds, one canonical versioned encoding, domain-separated signing, the
//! consent rules (`apply`), blocks and Merkle proofs. No IO, no clock, no randomness:
//! time and keys are arguments. Builds for native and wasm32.

pub mod block;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod merkle;
pub mod request;
pub mod rules;
pub mod state;
pub mod tx;
pub mod types;
pub mod wire;

pub use block::{Block, BlockHeader, ChainError, ChainTip, Genesis, GenesisAuthority};
pub use codec::{Decode, DecodeError, Encode};
pub use crypto::{Address, Hash, K256Verifier, PublicKey, Signature, SignatureVerifier};
pub use error::{ErrorKind, Rejection};
pub use merkle::InclusionProof;
pub use rules::{Change, Effects, apply};
pub use state::State;
pub use tx::{AccessBasis, Sealed, SignedTransaction, Transaction, TxBody, TxKind, VerifiedTx, WrappedKey};
pub use types::{Action, Actions, DataClass, Purpose, Role, Stage};
