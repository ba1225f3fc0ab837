//! The collector's library: everything that turns bytes into typed `scepwatch.v1` events.
//!
//! - [`parse`]: one pure, streaming, total parser per log format (IIS, HTTPERR, Windows event
//!   logs, SetupMsi.log, Android OMADM, iOS console, probe results, health facts), and
//!   [`parse::detect`], which recognises a format by content.
//! - [`scep`]: the RFC 8894 pkiMessage decoder that pulls the transactionID and friends out of
//!   a (possibly truncated, BER-encoded) CMS SignedData.
//!
//! Nothing here does I/O beyond reading the `BufRead` it is handed.
#![deny(missing_docs)]

#[cfg(feature = "agent")]
pub mod config;
pub mod parse;
pub mod scep;
pub mod source;
pub mod spool;
