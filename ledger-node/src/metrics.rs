//! Prometheus metrics of the node, served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

pub struct Metrics {
    registry: Registry,
    txs_committed: Counter,
    txs_rejected: Family<CodeLabel, Counter>,
    blocks: Counter,
    height: Gauge<u64, AtomicU64>,
    block_commit_seconds: Histogram,
    block_size: Histogram,
    blob_releases: Counter,
    blob_refusals: Family<CodeLabel, Counter>,
    requests_refused: Family<CodeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ledger");
        let m = Metrics {
            txs_committed: Counter::default(),
            txs_rejected: Family::default(),
            blocks: Counter::default(),
            height: Gauge::default(),
            block_commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            block_size: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            blob_releases: Counter::default(),
            blob_refusals: Family::default(),
            requests_refused: Family::default(),
            registry: Registry::default(),
        };
        registry.register("txs_committed", "Transactions durably committed in blocks", m.txs_committed.clone());
        registry.register("txs_rejected", "Transactions refused, by rejection code", m.txs_rejected.clone());
        registry.register("blocks", "Blocks produced and committed", m.blocks.clone());
        registry.register("height", "Height of the chain head", m.height.clone());
        registry.register(
            "block_commit_seconds",
            "Time to apply and durably commit one block",
            m.block_commit_seconds.clone(),
        );
        registry.register("block_transactions", "Transactions per block", m.block_size.clone());
        registry.register("blob_releases", "Encrypted blobs released to readers with consent", m.blob_releases.clone());
        registry.register("blob_refusals", "Blob reads refused, by reason", m.blob_refusals.clone());
        registry.register(
            "signed_requests_refused",
            "Signed API requests refused before any handler, by reason",
            m.requests_refused.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn rejected(&self, code: &str) {
        self.txs_rejected.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }
    pub fn block_committed(&self, txs: usize, took: Duration) {
        self.blocks.inc();
        self.height.inc();
        self.txs_committed.inc_by(txs as u64);
        self.block_commit_seconds.observe(took.as_secs_f64());
        self.block_size.observe(txs as f64);
    }
    pub fn set_height(&self, h: u64) {
        self.height.set(h);
    }
    pub fn blob_released(&self) {
        self.blob_releases.inc();
    }
    pub fn blob_refused(&self, code: &str) {
        self.blob_refusals.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }
    pub fn request_refused(&self, code: &str) {
        self.requests_refused.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
