//! The Windows service seam: install, uninstall, and the entry point the service manager calls.
//! Everything else of the agent is the same code as `run` in the foreground; the service only
//! turns the manager's Stop / Shutdown into the agent's graceful shutdown.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use scepwatch_collector::config::Config;
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

type Runner = fn(Config, tokio_shutdown::Shutdown) -> anyhow::Result<()>;

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

/// Register the service to start automatically, running this executable as
/// `service run --config <absolute path> --name <name>`.
pub fn install(name: &str, config: &Path) -> anyhow::Result<()> {
    let config = std::fs::canonicalize(config)
        .with_context(|| format!("configuration file {}", config.display()))?;
    Config::load(&config).map_err(|e| anyhow!("{e}"))?;
    let exe = std::env::current_exe().context("locating this executable")?;
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("opening the service manager (run as Administrator)")?;
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
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .with_context(|| format!("creating service {name}"))?;
    service
        .set_description("Tails NDES, IIS and event logs and ships them to the scepwatch ingestor")
        .context("setting the service description")?;
    println!("installed service {name}; start it with `sc start {name}`");
    Ok(())
}

/// Stop the service if it runs, then delete it.
pub fn uninstall(name: &str) -> anyhow::Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("opening the service manager (run as Administrator)")?;
    let service = manager
        .open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .with_context(|| format!("opening service {name}"))?;
    // Mark for deletion first: the manager removes it once it has stopped.
    service
        .delete()
        .with_context(|| format!("deleting service {name}"))?;
    if service.query_status()?.current_state != ServiceState::Stopped {
        service
            .stop()
            .with_context(|| format!("stopping service {name}"))?;
    }
    println!("removed service {name}");
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
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    if let Ok(mut o) = OUTCOME.lock() {
        *o = Some(result);
    }
}

fn run_service() -> anyhow::Result<()> {
    let launch = LAUNCH
        .get()
        .ok_or_else(|| anyhow!("service launch data missing"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |event| match event {
        ServiceControl::Stop | ServiceControl::Shutdown => {
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
    let status = service_control_handler::register(&launch.name, handler)
        .context("registering the service control handler")?;
    let set = |state: ServiceState, accept: ServiceControlAccept, code: u32, wait: Duration| {
        status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: wait,
            process_id: None,
        })
    };
    let config = match Config::load(&launch.config) {
        Ok(c) => c,
        Err(e) => {
            let _ = set(
                ServiceState::Stopped,
                ServiceControlAccept::empty(),
                1,
                Duration::ZERO,
            );
            return Err(anyhow!("{e}"));
        }
    };
    let drain = config.shipper.drain_timeout;
    set(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        0,
        Duration::ZERO,
    )
    .context("reporting Running")?;
    let result = (launch.runner)(config, tokio_shutdown::Shutdown(stop_rx));
    let code = u32::from(result.is_err());
    let _ = set(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
        drain,
    );
    result
}
