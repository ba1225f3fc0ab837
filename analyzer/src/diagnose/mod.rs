//! The one-process driver: `scepwatch diagnose` over log files, folders and zip archives.
//!
//! - [`input::walk`] finds the files, bounded against hostile archives by [`archive::Limits`];
//! - [`run::run`] recognises, parses and correlates them into a [`summary::RunReport`], which
//!   [`crate::report`] renders as text, JSON or HTML.
pub mod archive;
pub mod correlate;
pub mod input;
pub mod run;
pub mod summary;

pub use run::{run, DiagnoseError, EndpointFlag, Options, Progress};
pub use summary::RunReport;

pub(crate) use correlate::engine_correlator;
