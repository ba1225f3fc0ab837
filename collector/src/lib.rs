//! The collector: everything that turns log files into typed `scepwatch.v1` events and gets
//! them to the ingestor without losing any.
//!
//! Pure parts (no I/O beyond the reader they are handed):
//! - [`parse`]: one pure, streaming, total parser per log format (IIS, HTTPERR, Windows event
//!   logs, SetupMsi.log, Android OMADM, iOS console, probe results, health facts), and
//!   [`parse::detect`], which recognises a format by content.
//! - [`scep`]: the RFC 8894 pkiMessage decoder that pulls the transactionID and friends out of
//!   a (possibly truncated, BER-encoded) CMS SignedData.
//!
//! The agent's parts (files and disk; plain std, so they build for Windows too):
//! - [`source`]: tails log folders through rotation, truncation and copies, with stream
//!   identities that survive IIS's identical header lines, and checkpoints.
//! - [`spool`]: the durable, bounded on-disk queue between sources and shipper.
//!
//! With feature `agent` (default): [`config`], [`agent`] (the wiring), [`ship`] (the gRPC
//! shipper), [`metrics`] and [`memory`] (returning freed memory when idle); the
//! `scepwatch-collector` binary. `diagnose` builds without it.
#![deny(missing_docs)]

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "agent")]
pub mod config;
#[cfg(feature = "agent")]
pub mod memory;
#[cfg(feature = "agent")]
pub mod metrics;
pub mod parse;
pub mod scep;
#[cfg(feature = "agent")]
pub mod ship;
pub mod source;
pub mod spool;
