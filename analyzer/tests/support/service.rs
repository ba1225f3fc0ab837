//! The analyzer service run in the test process, against the test broker and a test database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scepwatch_analyzer::service::config::{Config, EXAMPLE};
use scepwatch_analyzer::service::metrics::Metrics;
use scepwatch_analyzer::service::{RunReport, Service, ServiceError, Shared};
use scepwatch_analyzer::store::StoreConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A configuration for `topic` and `store`, flushing every 200 ms and concluding partitions
/// idle for 2 s.
pub fn config(bootstrap: &str, topic: &str, store: StoreConfig) -> Config {
    let mut c = Config::from_toml(
        &EXAMPLE.replace("127.0.0.1:9092", bootstrap),
        "example.toml",
    )
    .expect("the example configuration loads");
    c.kafka.topic = topic.to_string();
    c.kafka.group_id = format!("{topic}-group");
    c.clickhouse = store;
    c.idle_finish = Duration::from_secs(2);
    c.flush_interval = Duration::from_millis(200);
    c
}

/// A running service.
pub struct Running {
    /// Its metrics and readiness.
    pub shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<RunReport, ServiceError>>,
}

impl Running {
    /// Starts the service with `config` (migrations, subscription), then runs it in a task.
    pub async fn start(config: Config) -> Running {
        let shared = Shared::new(Metrics::new());
        let service = Service::start(config, shared.clone(), std::future::pending())
            .await
            .expect("the service starts");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(service.run(async move {
            let _ = rx.await;
        }));
        Running {
            shared,
            stop: Some(tx),
            task,
        }
    }

    /// Asks it to stop (as SIGTERM does) and waits for its report.
    pub async fn stop(mut self) -> RunReport {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .expect("the service task ends")
            .expect("the service stops cleanly")
    }

    /// The value of metric line `name` (a full series name with labels), 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.shared.metrics.encode();
        text.lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|rest| rest.strip_prefix(' '))
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .next()
            .unwrap_or(0.0)
    }
}

/// Polls `cond` every 200 ms until it holds or `limit` passes (then panics naming `what`).
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < limit,
            "{what}: not after {:.1} s",
            limit.as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
