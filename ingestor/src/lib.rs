//! The scepwatch ingestor: a gRPC (tonic) server collectors stream batches of events to, and a
//! Kafka producer those events leave by.
//!
//! It authenticates each collector ([`auth`]: a bearer token stored as its SHA-256, optional
//! mutual TLS), checks and bounds what it receives ([`validation`], [`limits`]), publishes each
//! batch as one Kafka record per SCEP endpoint ([`sink::record`]) with an idempotent producer
//! ([`sink::kafka`]), and acknowledges a batch only once Kafka holds every record of it
//! ([`service`]). A bounded number of batches is in flight at once; past it the ingestor stops
//! reading and HTTP/2 flow control holds collectors back. [`http`] serves health, readiness and
//! [`metrics`]; [`server::Ingestor`] ties it together and shuts down gracefully.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use scepwatch_ingestor::{config::Config, server::Ingestor};
//! let config = Config::load(std::path::Path::new("/etc/scepwatch/ingestor.toml"))?;
//! let ingestor = Ingestor::bind(config).await?;
//! let report = ingestor.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! assert!(report.drained);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod server;
pub mod service;
pub mod sink;
pub mod validation;
