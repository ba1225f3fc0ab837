//! `scepwatch-ingestor`: receives collector batches over gRPC and publishes them to Kafka.
//!
//! Exit codes: 0 success, 1 runtime failure (Kafka, listeners), 2 unusable configuration or
//! input.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scepwatch_ingestor::auth::hash_token_input;
use scepwatch_ingestor::config::{Config, EXAMPLE};
use scepwatch_ingestor::server::Ingestor;
use scepwatch_ingestor::sink::kafka::{ensure_topic, KafkaSink};
use tracing_subscriber::EnvFilter;

const AFTER_HELP: &str = "\
Getting started:
  scepwatch-ingestor --print-config-example > ingestor.toml
  openssl rand -base64 32 > ndes01.token          # give this file to collector ndes01
  scepwatch-ingestor hash-token < ndes01.token    # put the output in [[collectors]] token_sha256
  scepwatch-ingestor validate --config ingestor.toml
  scepwatch-ingestor create-topics --config ingestor.toml
  scepwatch-ingestor serve --config ingestor.toml

Collectors authenticate with `authorization: Bearer <token>` on their stream. Every batch is
acknowledged ACCEPTED only once Kafka holds all of its records; REJECTED batches are invalid
(the ack says why), RETRY ones should be resent later.

Logs go to stderr; RUST_LOG sets the level (default: info).
Exit codes: 0 success, 1 runtime failure, 2 unusable configuration or input.";

/// scepwatch ingestor: authenticates collectors, bounds what they send, and publishes their
/// events to Kafka, acknowledging each batch once Kafka holds all of it.
#[derive(Parser, Debug)]
#[command(name = "scepwatch-ingestor", version, after_help = AFTER_HELP)]
struct Cli {
    /// Print an annotated example configuration and exit.
    #[arg(long)]
    print_config_example: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve collectors until SIGTERM or Ctrl-C, then drain in-flight batches and exit.
    Serve {
        /// The TOML configuration.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration (syntax, bounds, TLS files, Kafka properties) without serving.
    Validate {
        /// The TOML configuration.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Read a collector token on stdin and print its stored form (SHA-256, hex) for
    /// `token_sha256`.
    HashToken,
    /// Create the events topic with the configured partitions and replication factor (nothing
    /// happens when it exists).
    CreateTopics {
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
        eprintln!("scepwatch-ingestor: give a command (serve, validate, hash-token, create-topics) or --help");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match command {
        Command::HashToken => hash_token(),
        Command::Validate { config } => validate(&config),
        Command::Serve { config } => with_config(&config, serve),
        Command::CreateTopics { config } => with_config(&config, create_topics),
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

fn with_config(path: &Path, run: fn(Config) -> anyhow::Result<()>) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scepwatch-ingestor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hash_token() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("scepwatch-ingestor: cannot read the token from stdin: {e}");
        return ExitCode::from(2);
    }
    match hash_token_input(&input) {
        Ok(d) => {
            println!("{}", d.to_hex());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scepwatch-ingestor: {e}");
            ExitCode::from(2)
        }
    }
}

fn validate(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // librdkafka checks its properties when a client is created; no connection is made.
    if let Err(e) = KafkaSink::new(&config.kafka) {
        eprintln!("{}: kafka.properties: {e}", path.display());
        return ExitCode::from(2);
    }
    let tls = match &config.tls {
        Some(t) if t.mutual => "TLS with client certificates (mutual TLS)",
        Some(_) => "TLS",
        None => "plain text: development only",
    };
    println!(
        "{}: ok\n  listen {} ({tls}), http {}\n  {} collector(s)\n  kafka {} topic {}\n  \
         at most {} batches publishing (up to {} MiB with batches of the largest size), \
         {} streams",
        path.display(),
        config.listen,
        config.http_listen,
        config.collectors.len(),
        config.kafka.bootstrap_servers,
        config.kafka.topic,
        config.limits.max_in_flight_batches,
        config.in_flight_memory_bound() >> 20,
        config.limits.max_streams,
    );
    ExitCode::SUCCESS
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn serve(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let ingestor = Ingestor::bind(config).await?;
        let report = ingestor.run(shutdown_signal()).await?;
        if !report.drained || report.records_left > 0 {
            anyhow::bail!(
                "stopped before everything drained: {} batches in flight, {} records unflushed \
                 (their collectors resend them)",
                report.in_flight_left,
                report.records_left
            );
        }
        Ok(())
    })
}

fn create_topics(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let status = ensure_topic(&config.kafka, true)
            .await
            .with_context(|| format!("Kafka at {}", config.kafka.bootstrap_servers))?;
        let k = &config.kafka;
        if status.created {
            println!(
                "topic {}: created with {} partitions (replication factor {})",
                k.topic, status.partitions, k.replication_factor
            );
        } else {
            println!(
                "topic {}: exists with {} partitions",
                k.topic, status.partitions
            );
            if status.partitions != k.partitions as usize {
                println!(
                    "note: the configuration says {} partitions; the partition count of an \
                     existing topic is left as it is (changing it moves endpoints to other \
                     partitions)",
                    k.partitions
                );
            }
        }
        Ok(())
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
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
