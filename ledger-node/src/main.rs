//! The `ledger-node` command: `init` a chain, `serve` it, or run the `demo`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger_node::{NodeConfig, config, demo, ledger::BlockConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ledger-node", version, about = "A hospital's health-ledger node")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a new chain: genesis.json and the authority's keys in DATA_DIR.
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value = "healthchain-local")]
        chain_id: String,
        #[arg(long, default_value = "St Mary's Hospital")]
        name: String,
    },
    /// Serve a chain from DATA_DIR (embedded redb; nothing else to install).
    Serve {
        #[arg(long)]
        data_dir: PathBuf,
        /// Genesis file [default: DATA_DIR/genesis.json].
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The authority's secret key file [default: DATA_DIR/authority.key].
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: SocketAddr,
        /// Longest wait, in milliseconds, before a block with pending transactions is cut.
        #[arg(long, default_value_t = 2)]
        block_ms: u64,
        /// Most transactions in one block.
        #[arg(long, default_value_t = 4096)]
        block_txs: usize,
        /// Serve the portal's built files (e.g. `dist/`) next to the API.
        #[arg(long)]
        portal_dir: Option<PathBuf>,
    },
    /// Create (if needed) and serve a demo chain with a hospital, its staff and a patient.
    Demo {
        #[arg(long, default_value = "target/demo-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: SocketAddr,
        /// Serve the portal's built files (e.g. `dist/`) next to the API.
        #[arg(long)]
        portal_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.cmd {
        Cmd::Init { data_dir, chain_id, name } => {
            config::init(&data_dir, &chain_id, &name, ledger_node::ledger::now_ms())?;
            println!("created chain {chain_id} in {}", data_dir.display());
            Ok(())
        }
        Cmd::Serve { data_dir, genesis, key, listen, block_ms, block_txs, portal_dir } => {
            let genesis = config::read_genesis(&genesis.unwrap_or_else(|| data_dir.join("genesis.json")))?;
            let key = config::read_key(&key.unwrap_or_else(|| data_dir.join("authority.key")))?;
            let blocks =
                BlockConfig { max_wait: std::time::Duration::from_millis(block_ms), max_txs: block_txs.max(1) };
            rt.block_on(run(NodeConfig { data_dir, genesis, key, blocks, portal_dir }, listen, false))
        }
        Cmd::Demo { data_dir, listen, portal_dir } => {
            if !data_dir.join("genesis.json").exists() {
                config::init(
                    &data_dir,
                    "healthchain-demo",
                    "St Mary's Hospital (demo)",
                    ledger_node::ledger::now_ms(),
                )?;
            }
            let genesis = config::read_genesis(&data_dir.join("genesis.json"))?;
            let key = config::read_key(&data_dir.join("authority.key"))?;
            let ids = serde_json::to_string_pretty(&demo::identities())?;
            std::fs::write(data_dir.join("demo-identities.json"), ids + "\n")?;
            rt.block_on(run(
                NodeConfig { data_dir, genesis, key, blocks: BlockConfig::default(), portal_dir },
                listen,
                true,
            ))
        }
    }
}

async fn run(cfg: NodeConfig, listen: SocketAddr, seed: bool) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir.clone();
    let with_portal = cfg.portal_dir.is_some();
    let node = ledger_node::start(cfg)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    if seed {
        let n = demo::seed(&node.state).await?;
        if n > 0 {
            tracing::info!(transactions = n, "demo data seeded");
        }
        println!(
            "demo identities (public recovery phrases, for demos only): {}",
            data_dir.join("demo-identities.json").display()
        );
    }
    println!("ledger node listening on http://{addr}");
    if with_portal {
        println!("portal: open http://{addr}/ in a browser");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    ledger_node::serve(listener, node.router, shutdown).await?;
    Ok(())
}
