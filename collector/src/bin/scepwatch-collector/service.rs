//! The Windows service seam: install, uninstall, and the entry point the service manager calls.
//! Everything else of the agent is the same code as `run` in the foreground; the service turns
//! the manager's Stop / Shutdown into the agent's graceful shutdown, works in the configuration
//! file's folder (a service starts in `C:\Windows\System32`), and logs to a file beside the
//! configuration (a service has no console).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use scepwatch_collector::config::Config;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

type Runner = fn(Config, tokio_shutdown::Shutdown) -> anyhow::Result<()>;

/// The service log is rotated past this size (one older file is kept: at most twice this).
const LOG_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// How long `uninstall` waits for a running service to stop before deleting it anyway.
const UNINSTALL_STOP_WAIT: Duration = Duration::from_secs(60);

/// Service-specific exit codes, the same numbers as the command line's: 1 runtime failure,
/// 2 configuration error. The service manager records them (event 7024).
const EXIT_RUNTIME: u32 = 1;
const EXIT_CONFIG: u32 = 2;

/// What `service_main` needs; set once before the dispatcher starts.
struct Launch {
    name: String,
    config: PathBuf,
    runner: Runner,
}

static LAUNCH: OnceLock<Launch> = OnceLock::new();
static OUTCOME: Mutex<Option<anyhow::Result<()>>> = Mutex::new(None);

mod tokio_shutdown {
    /// Resolves when the service manager asks the service to stop.
    pub struct Shutdown(pub tokio::sync::oneshot::Receiver<()>);

    impl std::future::Future for Shutdown {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
        }
    }
}

/// The service's log file: `<service name>.log` in the configuration file's folder.
fn log_path(name: &str, config: &Path) -> PathBuf {
    config
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(format!("{name}.log"))
}

/// Register the service to start automatically (and be restarted by the manager if it fails),
/// running this executable as `service run --config <absolute path> --name <name>`.
pub fn install(name: &str, config: &Path) -> anyhow::Result<()> {
    let config = std::path::absolute(config)
        .with_context(|| format!("configuration file {}", config.display()))?;
    // Check the file as the service will read it: relative paths from its folder.
    if let Some(dir) = config.parent() {
        std::env::set_current_dir(dir).with_context(|| format!("entering {}", dir.display()))?;
    }
    Config::load(&config).map_err(|e| anyhow!("{e}"))?;
    let exe = std::env::current_exe().context("locating this executable")?;
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("opening the service manager (run as Administrator)")?;
    let log = log_path(name, &config);
    let info = ServiceInfo {
        name: OsString::from(name),
        display_name: OsString::from("scepwatch collector"),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe,
        launch_arguments: vec![
            OsString::from("service"),
            OsString::from("run"),
            OsString::from("--config"),
            config.into_os_string(),
            OsString::from("--name"),
            OsString::from(name),
        ],
        dependencies: vec![],
        account_name: None,
        account_password: None,
    };
    // START: a restart failure action needs it.
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .with_context(|| format!("creating service {name}"))?;
    service
        .set_description("Tails NDES, IIS and event logs and ships them to the scepwatch ingestor")
        .context("setting the service description")?;
    // Restarted after a crash or a failed exit: 10 s, then 1 min, then every 5 min; the count
    // resets after a day without failure. Nothing read is lost meanwhile (the logs stay on disk,
    // checkpoints move only on acknowledgement).
    let restart = |secs| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    };
    // A manager without them (Wine 8 ignores the actions and refuses the flag) still runs the
    // service: warn, do not fail.
    if let Err(e) = service.update_failure_actions(ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart(10), restart(60), restart(300)]),
    }) {
        eprintln!(
            "warning: restart on failure not set ({:#}); set it with `sc failure {name} reset= 86400 actions= restart/10000/restart/60000/restart/300000`",
            anyhow::Error::from(e)
        );
    } else if let Err(e) = service.set_failure_actions_on_non_crash_failures(true) {
        eprintln!(
            "warning: restart after a failed exit (not only a crash) not set ({:#}); set it with `sc failureflag {name} 1`",
            anyhow::Error::from(e)
        );
    }
    println!(
        "installed service {name}; start it with `sc start {name}`; it logs to {}",
        log.display()
    );
    Ok(())
}

/// Stop the service if it runs (waiting for its graceful shutdown), then delete it.
pub fn uninstall(name: &str) -> anyhow::Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("opening the service manager (run as Administrator)")?;
    let service = manager
        .open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .with_context(|| format!("opening service {name}"))?;
    let mut state = service.query_status()?.current_state;
    if state != ServiceState::Stopped {
        if state != ServiceState::StopPending {
            service
                .stop()
                .with_context(|| format!("stopping service {name}"))?;
        }
        let deadline = Instant::now() + UNINSTALL_STOP_WAIT;
        while state != ServiceState::Stopped && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            state = service.query_status()?.current_state;
        }
    }
    service
        .delete()
        .with_context(|| format!("deleting service {name}"))?;
    if state == ServiceState::Stopped {
        println!("removed service {name}");
    } else {
        println!(
            "service {name} did not stop within {} s; it is removed once it stops",
            UNINSTALL_STOP_WAIT.as_secs()
        );
    }
    Ok(())
}

/// Hand this process to the service manager; returns when the service has stopped.
pub fn run(name: &str, config: PathBuf, runner: Runner) -> anyhow::Result<()> {
    LAUNCH
        .set(Launch {
            name: name.to_string(),
            config,
            runner,
        })
        .map_err(|_| anyhow!("service already started"))?;
    service_dispatcher::start(name, ffi_service_main).context(
        "connecting to the service manager (this command is for the manager, not for a console)",
    )?;
    match OUTCOME.lock() {
        Ok(mut o) => o.take().unwrap_or(Ok(())),
        Err(_) => Err(anyhow!("service outcome lost")),
    }
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    let result = run_service();
    if let Ok(mut o) = OUTCOME.lock() {
        *o = Some(result);
    }
}

/// The status handle and the stop wait hint, shared with the control handler.
struct Shared {
    status: OnceLock<ServiceStatusHandle>,
    stop_wait: OnceLock<Duration>,
}

static SHARED: Shared = Shared {
    status: OnceLock::new(),
    stop_wait: OnceLock::new(),
};

fn status(
    state: ServiceState,
    accept: ServiceControlAccept,
    exit_code: ServiceExitCode,
    checkpoint: u32,
    wait_hint: Duration,
) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code,
        checkpoint,
        wait_hint,
        process_id: None,
    }
}

fn run_service() -> anyhow::Result<()> {
    let launch = LAUNCH
        .get()
        .ok_or_else(|| anyhow!("service launch data missing"))?;
    init_logging(&log_path(&launch.name, &launch.config));
    tracing::info!(service = %launch.name, config = %launch.config.display(), "service starting");

    let shared = &SHARED;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |event| match event {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            tracing::info!(control = ?event, "stop requested by the service manager");
            // The agent drains batches in flight (up to drain_timeout) and saves checkpoints.
            // Stop Pending is reported before the agent is told, so it cannot come after the
            // Stopped that the agent's end reports.
            if let Some(h) = shared.status.get() {
                let wait = shared.stop_wait.get().copied().unwrap_or_default();
                let _ = h.set_service_status(status(
                    ServiceState::StopPending,
                    ServiceControlAccept::empty(),
                    ServiceExitCode::NO_ERROR,
                    1,
                    wait + Duration::from_secs(5),
                ));
            }
            if let Ok(mut tx) = stop_tx.lock() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = match service_control_handler::register(&launch.name, handler) {
        Ok(h) => h,
        Err(e) => {
            let e = anyhow!(e).context("registering the service control handler");
            tracing::error!("{e:#}");
            return Err(e);
        }
    };
    let _ = shared.status.set(handle);
    let outcome = serve(launch, &handle, stop_rx);
    // Logged before Stopped is reported: once it is, the manager may start the next instance.
    let code = match &outcome {
        Ok(()) => {
            tracing::info!("service stopped");
            ServiceExitCode::NO_ERROR
        }
        Err((code, e)) => {
            tracing::error!("{e:#}");
            ServiceExitCode::ServiceSpecific(*code)
        }
    };
    let _ = handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
        0,
        Duration::ZERO,
    ));
    outcome.map_err(|(_, e)| e)
}

/// Load the configuration, report Running, and run the agent until it stops. An error comes
/// with the service-specific exit code to report.
fn serve(
    launch: &Launch,
    handle: &ServiceStatusHandle,
    stop_rx: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), (u32, anyhow::Error)> {
    // Relative paths in the configuration are relative to its folder (as `install` checked).
    if let Some(dir) = launch.config.parent() {
        std::env::set_current_dir(dir).map_err(|e| {
            let e = anyhow!("entering the configuration's folder {}: {e}", dir.display());
            (EXIT_CONFIG, e)
        })?;
    }
    let config = Config::load(&launch.config).map_err(|e| (EXIT_CONFIG, anyhow!("{e}")))?;
    let _ = SHARED.stop_wait.set(config.shipper.drain_timeout);
    handle
        .set_service_status(status(
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            ServiceExitCode::NO_ERROR,
            0,
            Duration::ZERO,
        ))
        .map_err(|e| (EXIT_RUNTIME, anyhow!(e).context("reporting Running")))?;
    tracing::info!("service running");
    (launch.runner)(config, tokio_shutdown::Shutdown(stop_rx)).map_err(|e| (EXIT_RUNTIME, e))
}

/// Log (SCEPWATCH_LOG filter, default `info`) to `path`, and panics too.
fn init_logging(path: &Path) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCEPWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(RotatingLog::new(path.to_path_buf())))
        .try_init();
    std::panic::set_hook(Box::new(|info| tracing::error!(%info, "panic")));
}

/// An append-only log file renamed to `<name>.1` (replacing the previous one) once it passes
/// [`LOG_MAX_BYTES`]. Each event is one `write` call, so rotation falls between lines. If the
/// rename fails (the old file held open by a viewer), writing goes on in the current file.
struct RotatingLog {
    path: PathBuf,
    file: Option<(File, u64)>,
}

impl RotatingLog {
    fn new(path: PathBuf) -> RotatingLog {
        RotatingLog { path, file: None }
    }

    fn open(&mut self) -> io::Result<&mut (File, u64)> {
        if self.file.is_none() {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let len = file.metadata()?.len();
            self.file = Some((file, len));
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old)
    }
}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = self.open()?.1;
        if len > 0 && len + buf.len() as u64 > LOG_MAX_BYTES {
            let _ = self.rotate();
        }
        let (file, len) = self.open()?;
        file.write_all(buf)?;
        *len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some((f, _)) => f.flush(),
            None => Ok(()),
        }
    }
}
