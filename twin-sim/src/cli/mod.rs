//! The command line's own helpers: progress bars, the validation report's plots, and the
//! random salt of an imported stage. Native only; on wasm32 (where only the library
//! matters) progress is silent, plots are skipped and stages stay unsalted.

pub mod plots;
pub mod progress;

/// A fresh random salt for a newly imported stage's segment hashes (`None` on wasm32).
pub fn random_salt() -> anyhow::Result<Option<ledger_protocol::crypto::Hash>> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| anyhow::anyhow!("no randomness for the stage's segment-hash salt: {e}"))?;
        Ok(Some(ledger_protocol::crypto::Hash(bytes)))
    }
    #[cfg(target_arch = "wasm32")]
    {
        Ok(None)
    }
}
