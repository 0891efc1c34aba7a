//! Record blobs in a cluster: an upload is copied to the other voters and acknowledged once
//! a majority of the voters hold it; a node asked for a blob it lacks fetches it from a peer
//! (bounded in size, checked against its id); and a node that lost its blobs (a wiped disk
//! re-added, a node that was down while an upload went round) gets every anchored blob back
//! in the background: at start, after each snapshot install, and every few minutes.

use super::orderer::ClusterOrderer;
use super::types::NodeId;
use crate::ledger::Ledger;
use ledger_protocol::Hash;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// The first look for missing blobs, after a start.
const FIRST_LOOK: Duration = Duration::from_secs(5);
/// Between looks when the last one found everything it looked for.
const LOOK_EVERY: Duration = Duration::from_secs(10 * 60);
/// The first wait before looking again while some anchored blob could not be fetched (no
/// peer known yet, as right after a snapshot install, or none holding it); doubled at each
/// failed look up to `LOOK_EVERY`.
const RETRY_FIRST: Duration = Duration::from_secs(2);

impl ClusterOrderer {
    /// Copies a blob just stored here to the other voters and waits until enough of them
    /// hold it that a majority of the voters does (this node counts if it votes); the others
    /// are still sent it, in the background. Says why when a majority cannot be reached.
    pub async fn replicate_blob(&self, bytes: Vec<u8>, uploader: ledger_protocol::Address) -> Result<(), String> {
        let (peers, voters, votes_here) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let members = m.membership_config.membership();
            let voters: Vec<NodeId> = members.voter_ids().collect();
            let peers: Vec<String> = members
                .nodes()
                .filter(|(n, _)| **n != self.id && voters.contains(n))
                .map(|(_, p)| p.raft.clone())
                .collect();
            (peers, voters.len(), voters.contains(&self.id))
        };
        let need = others_needed(voters, votes_here);
        if need == 0 {
            return Ok(());
        }
        let bytes = axum::body::Bytes::from(bytes);
        let (tx, mut rx) = tokio::sync::mpsc::channel(peers.len().max(1));
        for peer in peers {
            let (http, bytes, tx) = (self.http.clone(), bytes.clone(), tx.clone());
            tokio::spawn(async move {
                let sent = http
                    .put(format!("{peer}/raft/blob"))
                    .header(super::network::UPLOADER, uploader.to_hex())
                    .body(bytes)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let ok = matches!(&sent, Ok(r) if r.status().is_success());
                if !ok {
                    tracing::warn!(%peer, answer = ?sent.as_ref().map(|r| r.status()), "a peer did not take a copy of a blob");
                }
                let _ = tx.send(ok).await;
            });
        }
        drop(tx);
        let (mut acked, mut failed) = (0, 0);
        while let Some(ok) = rx.recv().await {
            if ok {
                acked += 1;
                if acked >= need {
                    return Ok(());
                }
            } else {
                failed += 1;
            }
        }
        Err(format!(
            "the upload is stored on this node, but only {acked} of the {need} other nodes it needs took a copy ({failed} did not answer or refused): a majority of the cluster must hold it before it is acknowledged. Upload it again once the cluster's nodes are up"
        ))
    }

    /// A blob from the first peer that holds it and whose copy hashes to its id. A peer's
    /// answer is read only up to the blob limit, so a faulty peer cannot fill this node's
    /// memory.
    pub async fn blob_from_peers(&self, id: &Hash) -> Option<Vec<u8>> {
        let peers: Vec<String> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config
                .membership()
                .nodes()
                .filter(|(n, _)| **n != self.id)
                .map(|(_, p)| p.raft.clone())
                .collect()
        };
        for peer in peers {
            let got = self.http.get(format!("{peer}/raft/blob/{id}")).timeout(Duration::from_secs(30)).send().await;
            let Ok(resp) = got else { continue };
            if !resp.status().is_success() {
                continue;
            }
            let bytes = match read_capped(resp, crate::api::MAX_BLOB_BYTES).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(%id, %peer, error = %e, "a peer's answer for a blob was refused");
                    continue;
                }
            };
            if ledger_protocol::wire::blob_id(&bytes) != *id {
                tracing::warn!(%id, %peer, "a peer's copy of a blob does not match its id; ignored");
                continue;
            }
            return Some(bytes);
        }
        None
    }

    /// Fetches from peers every blob a record on the chain anchors and this node lacks.
    /// Returns how many were missing and how many of those it got.
    pub async fn restore_missing_blobs(&self, ledger: &Arc<Ledger>) -> Result<(usize, usize), String> {
        let ids: Vec<Hash> = ledger.head().state.blob_records.keys().copied().collect();
        let l = ledger.clone();
        let missing = tokio::task::spawn_blocking(move || l.store.missing_blobs(&ids))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut restored = 0;
        for id in &missing {
            let Some(bytes) = self.blob_from_peers(id).await else { continue };
            let (l, id) = (ledger.clone(), *id);
            tokio::task::spawn_blocking(move || l.store.put_blob(&id, &bytes))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            restored += 1;
        }
        Ok((missing.len(), restored))
    }
}

/// Other voters that must take a copy before an upload is acknowledged: with this node, a
/// majority of `voters` when it votes; a majority of the voters without it when it does not
/// (a learner's own copy counts for nothing).
fn others_needed(voters: usize, votes_here: bool) -> usize {
    let majority = voters / 2 + 1;
    if votes_here { majority - 1 } else { majority }
}

/// Reads an answer's body, refusing one longer than `cap` bytes (by its declared length
/// before reading, and by what arrives while reading).
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    if let Some(n) = resp.content_length()
        && n > cap as u64
    {
        return Err(format!("it declares {n} bytes, more than the {cap} a blob may hold"));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > cap {
            return Err(format!("it sent more than the {cap} bytes a blob may hold"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Looks for anchored blobs this node lacks, in the background: soon after the start, when
/// `installed` is notified (a snapshot brought records whose blobs stayed elsewhere), every
/// `LOOK_EVERY`, and sooner (from `RETRY_FIRST`, backing off) while some could not be
/// fetched. Ends with the node.
pub fn restore_in_background(orderer: Weak<ClusterOrderer>, ledger: Weak<Ledger>, installed: Arc<Notify>) {
    tokio::spawn(async move {
        let (mut wait, mut retry) = (FIRST_LOOK, RETRY_FIRST);
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = installed.notified() => {}
            }
            let (Some(orderer), Some(ledger)) = (orderer.upgrade(), ledger.upgrade()) else { break };
            let all_there = match orderer.restore_missing_blobs(&ledger).await {
                Ok((0, _)) => true,
                Ok((missing, restored)) => {
                    tracing::info!(missing, restored, "fetched anchored blobs this node lacked from its peers");
                    restored == missing
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for blobs this node lacks");
                    false
                }
            };
            (wait, retry) = if all_there { (LOOK_EVERY, RETRY_FIRST) } else { (retry, (retry * 2).min(LOOK_EVERY)) };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_of_the_voters_holds_every_acknowledged_upload() {
        assert_eq!(others_needed(1, true), 0);
        assert_eq!(others_needed(3, true), 1);
        assert_eq!(others_needed(4, true), 2);
        assert_eq!(others_needed(5, true), 2);
        // A learner's copy is not a voter's: it needs a majority of the voters besides itself.
        assert_eq!(others_needed(3, false), 2);
        assert_eq!(others_needed(1, false), 1);
    }

    /// A peer that answers a blob request with more than a blob may hold is cut off, whether
    /// it says so up front or streams without a length.
    #[tokio::test]
    async fn a_peer_answer_larger_than_a_blob_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        // "/sized" declares its 3000 bytes; anything else streams 10 chunks of 1000 bytes
        // with no declared length.
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut req = vec![0u8; 1024];
                    let n = s.read(&mut req).await.unwrap_or(0);
                    let sized = String::from_utf8_lossy(&req[..n]).starts_with("GET /sized ");
                    let mut out = Vec::new();
                    if sized {
                        out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 3000\r\nconnection: close\r\n\r\n");
                        out.extend_from_slice(&[7u8; 3000]);
                    } else {
                        out.extend_from_slice(
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                        );
                        for _ in 0..10 {
                            out.extend_from_slice(b"3e8\r\n");
                            out.extend_from_slice(&[7u8; 1000]);
                            out.extend_from_slice(b"\r\n");
                        }
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    let _ = s.write_all(&out).await;
                });
            }
        });
        let http = reqwest::Client::new();
        let get = |p: &str| http.get(format!("http://{at}{p}")).send();
        assert_eq!(read_capped(get("/sized").await.unwrap(), 3000).await.unwrap().len(), 3000);
        let e = read_capped(get("/sized").await.unwrap(), 2999).await.unwrap_err();
        assert!(e.contains("declares 3000 bytes"), "{e}");
        let e = read_capped(get("/streamed").await.unwrap(), 2500).await.unwrap_err();
        assert!(e.contains("more than the 2500 bytes"), "{e}");
        assert_eq!(read_capped(get("/streamed").await.unwrap(), 10_000).await.unwrap().len(), 10_000);
    }
}
