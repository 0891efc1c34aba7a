//! The node's own transactions (the access events of blob releases), signed with its
//! authority key by one task: requests that arrive together are numbered in arrival order
//! and ordered as one submission, and the next submission waits for that one's answer. So
//! the node's nonces reach the orderer in the order they were given out, however many
//! reads run at once (numbering per request and submitting each on its own let a lower
//! nonce land after a higher one and be refused as stale).

use crate::ledger::{Ledger, OrderError, Orderer, Outcome, order_checked};
use crate::metrics::Metrics;
use crate::verify::{self, Secp256k1Verifier};
use ledger_protocol::block::MAX_BLOCK_TXS;
use ledger_protocol::{PublicKey, Transaction, TxBody};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Access events that may wait to be signed at once; past that a read is refused (503)
/// before anything is released.
pub const MAX_QUEUED_ACCESS_EVENTS: usize = 4096;

struct Job {
    body: TxBody,
    reply: oneshot::Sender<Result<Outcome, OrderError>>,
}

/// Hands the node's own transactions to the one task that signs and orders them.
pub struct NodeSigner {
    jobs: mpsc::Sender<Job>,
}

/// What signing as the node needs: the key, and the highest nonce given out so far (shared
/// with anything else that signs as the node, so no nonce is given out twice).
pub struct NodeKey {
    pub key: k256::ecdsa::SigningKey,
    pub nonce: AtomicU64,
}

impl NodeKey {
    pub fn new(key: k256::ecdsa::SigningKey, ledger: &Ledger) -> Self {
        let nonce = ledger.head().state.account(&Self::public(&key).address()).map_or(0, |a| a.nonce);
        NodeKey { key, nonce: AtomicU64::new(nonce) }
    }

    fn public(key: &k256::ecdsa::SigningKey) -> PublicKey {
        PublicKey::from(key.verifying_key())
    }

    /// Signs `body` with the next nonce: above every one given out and every one the
    /// ledger has seen (the same key may also sign elsewhere, an admin registering staff).
    pub fn sign(&self, ledger: &Ledger, body: TxBody) -> ledger_protocol::SignedTransaction {
        let signer = Self::public(&self.key);
        let on_ledger = ledger.head().state.account(&signer.address()).map_or(0, |a| a.nonce);
        let prev = self
            .nonce
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| Some(cur.max(on_ledger) + 1))
            .unwrap_or_else(|cur| cur);
        let nonce = prev.max(on_ledger) + 1;
        Transaction { chain_id: ledger.genesis.chain_id.clone(), signer, nonce, body }.sign(&self.key)
    }
}

impl NodeSigner {
    /// Starts the task (needs a tokio runtime).
    pub fn start(ledger: Arc<Ledger>, orderer: Arc<dyn Orderer>, key: Arc<NodeKey>, metrics: Arc<Metrics>) -> Self {
        let (jobs, rx) = mpsc::channel(MAX_QUEUED_ACCESS_EVENTS);
        tokio::spawn(run(rx, ledger, orderer, key, metrics));
        NodeSigner { jobs }
    }

    /// Signs `body` as the node, orders it and answers once its block is committed.
    pub async fn submit(&self, body: TxBody) -> Result<Outcome, OrderError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || OrderError::Unavailable("the node's signer has stopped".into());
        self.jobs.try_send(Job { body, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => OrderError::Unavailable(format!(
                "{MAX_QUEUED_ACCESS_EVENTS} reads are already waiting for their access events to be recorded; wait a moment"
            )),
            mpsc::error::TrySendError::Closed(_) => stopped(),
        })?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    ledger: Arc<Ledger>,
    orderer: Arc<dyn Orderer>,
    key: Arc<NodeKey>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BLOCK_TXS {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (bodies, replies): (Vec<TxBody>, Vec<_>) = jobs.into_iter().map(|j| (j.body, j.reply)).unzip();
        let (l, k) = (ledger.clone(), key.clone());
        let signed =
            verify::on_pool(move || bodies.into_iter().map(|b| k.sign(&l, b).verify(&Secp256k1Verifier)).collect())
                .await;
        match order_checked(signed, orderer.as_ref(), &metrics).await {
            Ok(outcomes) => replies.into_iter().zip(outcomes).for_each(|(r, o)| drop(r.send(Ok(o)))),
            Err(e) => replies.into_iter().for_each(|r| drop(r.send(Err(e.clone())))),
        }
    }
}
