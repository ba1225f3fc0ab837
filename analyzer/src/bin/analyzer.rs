//! `scepwatch-analyzer`: the analyzer service. Reads the events topic as a consumer group,
//! correlates and diagnoses per partition, detects 500/503 spikes, and stores everything in
//! ClickHouse.
//!
//! Exit codes: 0 success, 1 runtime failure (Kafka, ClickHouse, listener), 2 unusable
//! configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scepwatch_analyzer::service::config::{Config, EXAMPLE};
use scepwatch_analyzer::service::metrics::Metrics;
use scepwatch_analyzer::service::{http, Service, ServiceError, Shared};
use scepwatch_analyzer::store::migrate::migrate;
use tracing::info;
use tracing_subscriber::EnvFilter;

// The loop thread builds rows that the flush task frees, tens of thousands per flush: glibc's
// allocator spent a fifth of the loop thread's time on that (malloc, consolidating its free
// lists), mimalloc a fraction of it (analyzer-bench, perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AFTER_HELP: &str = "\
Getting started:
  scepwatch-analyzer --print-config-example > analyzer.toml
  scepwatch-analyzer validate --config analyzer.toml
  scepwatch-analyzer migrate --config analyzer.toml   # optional: serve migrates too
  scepwatch-analyzer serve --config analyzer.toml

Every analyzer of a fleet joins one consumer group; the topic's partitions are shared among
them. Results land in ClickHouse tables (events, attempts, diagnoses, incidents, health_facts,
rejects, watermarks and per-minute aggregates); docs/clickhouse.md shows how to query them.
Offsets are committed only below what is stored and no longer needed, so a restart replays a
little and never loses or duplicates a result.

Health: GET /healthz, /readyz and /metrics on [service] http_listen (127.0.0.1:9466).
Logs go to stderr; RUST_LOG sets the level (default: info).
Exit codes: 0 success, 1 runtime failure, 2 unusable configuration.";

/// scepwatch analyzer service: correlates device and server events from Kafka into enrollment
/// attempts, diagnoses them, detects 500/503 spikes, and stores it all in ClickHouse.
#[derive(Parser, Debug)]
#[command(name = "scepwatch-analyzer", version, after_help = AFTER_HELP)]
struct Cli {
    /// Print an annotated example configuration and exit.
    #[arg(long)]
    print_config_example: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Consume and store until SIGTERM or Ctrl-C, then store the last batch, commit and exit.
    Serve {
        /// The TOML configuration.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration without connecting anywhere.
    Validate {
        /// The TOML configuration.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Create the database and apply the schema's migrations, then exit.
    Migrate {
        /// The TOML configuration.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_config_example {
        print!("{EXAMPLE}");
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("scepwatch-analyzer: give a command (serve, validate, migrate) or --help");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (path, run): (&Path, fn(Config) -> anyhow::Result<()>) = match &command {
        Command::Serve { config } => (config, serve),
        Command::Migrate { config } => (config, migrate_only),
        Command::Validate { config } => (config, validate),
    };
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = config.clickhouse.validate() {
        eprintln!("{}: {e}", path.display());
        return ExitCode::from(2);
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scepwatch-analyzer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn validate(config: Config) -> anyhow::Result<()> {
    println!(
        "ok\n  kafka {} topic {} group {}\n  clickhouse {} database {}\n  health and metrics on http://{}\n  \
         flush every {} ms or {} events; idle partitions concluded after {} s",
        config.kafka.bootstrap_servers,
        config.kafka.topic,
        config.kafka.group_id,
        config.clickhouse.url,
        config.clickhouse.database,
        config.http_listen,
        config.flush_interval.as_millis(),
        config.flush_events,
        config.idle_finish.as_secs(),
    );
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn migrate_only(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let client = config.clickhouse.client()?;
        let report = migrate(
            &client,
            &config.clickhouse.database,
            "scepwatch-analyzer migrate",
        )
        .await
        .with_context(|| format!("ClickHouse at {}", config.clickhouse.url))?;
        for a in &report.applied {
            println!("applied {a:?}");
        }
        println!(
            "database {}: {} applied now, {} already applied, {} newer unknown to this release",
            config.clickhouse.database,
            report.applied.len(),
            report.skipped.len(),
            report.unknown.len()
        );
        Ok(())
    })
}

fn serve(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let shared = Shared::new(Metrics::new());
        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .with_context(|| format!("http listener {}", config.http_listen))?;
        info!(addr = %config.http_listen, "health and metrics");
        let router = http::router(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "http listener stopped");
            }
        });
        let service = match Service::start(config, shared, shutdown_signal()).await {
            Ok(s) => s,
            Err(ServiceError::Stopped) => {
                info!("stopped before Kafka and ClickHouse were ready");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let report = service.run(shutdown_signal()).await?;
        info!(
            records = report.records,
            events = report.events,
            flushes = report.flushes,
            "stopped"
        );
        if report.rows_left > 0 {
            anyhow::bail!(
                "stopped with {} rows not stored (ClickHouse did not take them); the next start \
                 replays them",
                report.rows_left
            );
        }
        Ok(())
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
