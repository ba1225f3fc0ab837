//! `scepwatch-collector`: the agent that runs on each NDES server. It tails the IIS, HTTP.sys,
//! connector-installer and exported event logs, parses them into scepwatch events, keeps them in
//! a durable spool, and ships them to the ingestor, which acknowledges each batch once Kafka
//! holds it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scepwatch_collector::config::{Config, EXAMPLE};
use scepwatch_collector::{agent, memory, metrics};

#[cfg(windows)]
mod service;

#[derive(Parser)]
#[command(
    name = "scepwatch-collector",
    version,
    about = "Tail NDES, IIS and Windows event logs and ship them to the scepwatch ingestor",
    long_about = "Tail NDES, IIS and Windows event logs and ship them to the scepwatch ingestor.\n\n\
        Start with `scepwatch-collector --print-config-example > collector.toml`, edit it (collector \
        name, the SCEP URL this server serves, the ingestor's URL, token and CA, the log folders), \
        check it with `scepwatch-collector validate --config collector.toml`, then run it in the \
        foreground with `run`, or on Windows install it as a service with `service install`.\n\n\
        Nothing read is lost: batches wait in an on-disk spool until the ingestor confirms that \
        Kafka has them, and each log file's checkpoint moves only then. When the spool is full, \
        reading waits.\n\n\
        Logging: SCEPWATCH_LOG=debug (or any tracing filter, e.g. scepwatch_collector=debug).",
    after_help = "Exit codes: 0 stopped cleanly, 1 runtime failure, 2 configuration or usage error."
)]
struct Cli {
    /// Print a complete, commented configuration file and exit.
    #[arg(long)]
    print_config_example: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run in the foreground until Ctrl-C / SIGTERM (then: stop reading, wait for
    /// acknowledgements of batches in flight, save checkpoints).
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file: syntax, values, and whether the folders it names exist.
    Validate {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Install, remove or run the Windows service (Windows only).
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
}

#[derive(Subcommand)]
enum ServiceAction {
    /// Register the service (automatic start) to run this executable with `--config`.
    Install {
        /// The configuration file (stored as an absolute path).
        #[arg(long, short)]
        config: PathBuf,
        /// Service name.
        #[arg(long, default_value = "scepwatch-collector")]
        name: String,
    },
    /// Stop and remove the service.
    Uninstall {
        /// Service name.
        #[arg(long, default_value = "scepwatch-collector")]
        name: String,
    },
    /// Entry point the Windows service manager starts (not for interactive use).
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Service name.
        #[arg(long, default_value = "scepwatch-collector")]
        name: String,
    },
}

fn main() -> ExitCode {
    // Before any thread: one allocator arena keeps an idle agent small (collector::memory).
    memory::use_one_arena();
    let cli = Cli::parse();
    if cli.print_config_example {
        print!("{EXAMPLE}");
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("scepwatch-collector: a command is needed (run, validate, service); see --help");
        return ExitCode::from(2);
    };
    match command {
        Command::Validate { config } => validate(&config),
        Command::Run { config } => {
            init_logging();
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match run_foreground(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Service { action } => service_command(action),
    }
}

fn validate(path: &std::path::Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}: valid", path.display());
    println!(
        "  collector {} on host {}, endpoint {} ({})",
        config.collector.name,
        config.collector.host,
        config.collector.endpoint,
        config.collector.endpoint_id
    );
    println!("  ingestor {}", config.ingestor.url);
    println!(
        "  spool {} (max {} bytes)",
        config.spool.dir.display(),
        config.spool.max_bytes
    );
    let mut warnings = 0;
    for s in &config.sources {
        let exists = s.root.is_dir();
        println!(
            "  source {:<20} {:<12} {} {}{}",
            s.name,
            s.format.name(),
            s.root.display(),
            s.include.join(", "),
            if exists {
                ""
            } else {
                "   (folder not found yet)"
            }
        );
        if !exists {
            warnings += 1;
        }
    }
    if warnings > 0 {
        println!(
            "warning: {warnings} source folder(s) do not exist yet; they are watched and read once they appear"
        );
    }
    ExitCode::SUCCESS
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCEPWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run the agent on a tokio runtime until `shutdown` resolves.
fn run_with_shutdown(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_name("scepwatch-collector")
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let m = metrics::AgentMetrics::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let Some(addr) = config.metrics.listen {
            let m = m.clone();
            let mut rx = stop_rx.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                if let Err(e) = metrics::serve(addr, m, stopped).await {
                    tracing::error!(%addr, error = %e, "metrics endpoint failed");
                }
            });
            tracing::info!(%addr, "metrics on http://{addr}/metrics");
        }
        let result = agent::run(config, m, shutdown).await;
        let _ = stop_tx.send(true);
        result.context("collector")
    })
}

fn run_foreground(config: Config) -> anyhow::Result<()> {
    run_with_shutdown(config, shutdown_signal())
}

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
    tracing::info!("shutdown requested");
}

#[cfg(windows)]
fn service_command(action: ServiceAction) -> ExitCode {
    let result = match action {
        ServiceAction::Install { config, name } => service::install(&name, &config),
        ServiceAction::Uninstall { name } => service::uninstall(&name),
        ServiceAction::Run { config, name } => {
            // Logs go to a file beside the configuration (see the service module).
            service::run(&name, config, |config, shutdown| {
                run_with_shutdown(config, shutdown)
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(windows))]
fn service_command(_action: ServiceAction) -> ExitCode {
    eprintln!(
        "error: Windows services exist only on Windows; elsewhere run `scepwatch-collector run --config FILE` under your service manager (e.g. a systemd unit)"
    );
    ExitCode::from(2)
}
