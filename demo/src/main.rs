//! `demo-seed --node URL --data-dir DIR`: seeds the demo hospital into a running node over
//! its HTTP API, signing as the hospital with DIR/authority.key (as `ledger-node demo` wrote
//! it), and writes the demo identities' public recovery phrases to DIR/demo-identities.json
//! for the portal's restore page. Seeding again does nothing.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Seed the demo hospital into a running ledger node, through its HTTP API")]
struct Args {
    /// The node, e.g. http://127.0.0.1:7800
    #[arg(long)]
    node: String,
    /// The node's data folder: authority.key is read from it, demo-identities.json written.
    #[arg(long)]
    data_dir: PathBuf,
    /// How long to wait for the node to answer.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let started = Instant::now();
        let client = loop {
            match demo::client::Client::connect(&args.node).await {
                Ok(c) => break c,
                Err(_) if started.elapsed() < Duration::from_secs(args.wait_secs) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        };
        // Read once the node answers: a node starting on a fresh folder writes the key first
        // (`cargo xtask run` starts both at once).
        let key_path = args.data_dir.join("authority.key");
        let text = std::fs::read_to_string(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
        let bytes =
            hex::decode(text.trim()).with_context(|| format!("{} does not hold a hex key", key_path.display()))?;
        let key = k256::ecdsa::SigningKey::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("{} does not hold a valid secret key", key_path.display()))?;
        let n = demo::seed(&client, &key).await?;
        let ids = serde_json::to_string_pretty(&demo::identities())?;
        let out = args.data_dir.join("demo-identities.json");
        std::fs::write(&out, ids + "\n").with_context(|| format!("cannot write {}", out.display()))?;
        if n > 0 {
            println!("demo seeded: {n} transactions; demo identities in {}", out.display());
        } else {
            println!("demo already seeded; demo identities in {}", out.display());
        }
        Ok(())
    })
}
