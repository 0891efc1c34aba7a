//! The node's own transactions (the access events of blob releases), signed with its
//! authority key by one task: requests that arrive together are numbered in arrival order
//! and ordered as one submission, and the next submission waits for that one's answer. So
//! the node's nonces reach the orderer in the order they were given out, however many
//! reads run at once (numbering per request and submitting each on its own let a lower
//! nonce land after a higher one and be refused as stale).

use crate::api::MAX_BATCH;
use crate::ledger::{Ledger, OrderError, Orderer, Outcome};
use crate::verify::{self, Secp256k1Verifier};
use ledger_protocol::{PublicKey, Rejection, Transaction, TxBody, VerifiedTx};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

struct Job {
    body: TxBody,
    reply: oneshot::Sender<Result<Outcome, OrderError>>,
}

/// Hands the node's own transactions to the one task that signs and orders them.
pub struct NodeSigner {
    jobs: mpsc::UnboundedSender<Job>,
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
    pub fn start(ledger: Arc<Ledger>, orderer: Arc<dyn Orderer>, key: Arc<NodeKey>) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, ledger, orderer, key));
        NodeSigner { jobs }
    }

    /// Signs `body` as the node, orders it and answers once its block is committed.
    pub async fn submit(&self, body: TxBody) -> Result<Outcome, OrderError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || OrderError::Unavailable("the node's signer has stopped".into());
        self.jobs.send(Job { body, reply }).map_err(|_| stopped())?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Job>, ledger: Arc<Ledger>, orderer: Arc<dyn Orderer>, key: Arc<NodeKey>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (bodies, replies): (Vec<TxBody>, Vec<_>) = jobs.into_iter().map(|j| (j.body, j.reply)).unzip();
        let (l, k) = (ledger.clone(), key.clone());
        let signed: Vec<Result<VerifiedTx, Rejection>> =
            verify::on_pool(move || bodies.into_iter().map(|b| k.sign(&l, b).verify(&Secp256k1Verifier)).collect())
                .await;
        let mut verified = Vec::with_capacity(signed.len());
        let mut slots = Vec::with_capacity(signed.len());
        for s in signed {
            match s {
                Ok(v) => {
                    verified.push(v);
                    slots.push(None);
                }
                Err(r) => slots.push(Some(r)),
            }
        }
        let asked = verified.len();
        let ordered = if asked == 0 { Ok(Vec::new()) } else { orderer.submit(verified).await };
        let mut ordered = match ordered {
            Ok(o) if o.len() == asked => o.into_iter(),
            Ok(o) => {
                let e =
                    OrderError::Unavailable(format!("the orderer answered for {} of {asked} transactions", o.len()));
                replies.into_iter().for_each(|r| drop(r.send(Err(e.clone()))));
                continue;
            }
            Err(e) => {
                replies.into_iter().for_each(|r| drop(r.send(Err(e.clone()))));
                continue;
            }
        };
        for (reply, slot) in replies.into_iter().zip(slots) {
            let outcome = match slot {
                // The node's own key made a transaction that does not verify: a bug, not
                // the reader's doing.
                Some(r) => Err(OrderError::Unavailable(format!("the node could not sign its access event: {r}"))),
                None => ordered.next().map(Ok).unwrap_or_else(|| Err(OrderError::Unavailable("no outcome".into()))),
            };
            let _ = reply.send(outcome);
        }
    }
}
