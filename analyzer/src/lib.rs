//! The analyzer's library: one engine, two drivers.
//!
//! - [`model`]: attempts, diagnoses, evidence: the engine's output and the JSON report's schema.
//! - [`engine`]: correlates events into enrollment attempts per SCEP endpoint and applies the
//!   catalog.
//! - [`rule`]: the diagnosis catalog, one module per rule family, each a plain testable unit.
//! - [`diagnose`]: the one-process driver over files, folders and zips.
//! - [`report`]: text, JSON and HTML renderings of a diagnosis run.
//! - [`spike`]: 500/503 spike detection per server and endpoint.
//! - [`store`] (feature `service`): the ClickHouse schema's migrations, rows and writer.
//! - [`service`] (feature `service`): the Kafka-to-ClickHouse driver of the engine.
#![deny(missing_docs)]

pub mod diagnose;
pub mod engine;
pub mod model;
pub mod report;
pub mod rule;
#[cfg(feature = "service")]
pub mod service;
pub mod spike;
#[cfg(feature = "service")]
pub mod store;
