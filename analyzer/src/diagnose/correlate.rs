//! The engine behind the pipeline's [`Correlator`] seam.
//!
//! Until the engine is in, a stand-in consumes events and concludes nothing.
use std::collections::BTreeMap;

use scepwatch_proto::v1::{Event, Watermark};

use super::run::Correlator;
use super::summary::Collector;

struct Pending;

impl Correlator for Pending {
    fn push(&mut self, _event: &Event) {}
    fn watermark(&mut self, _watermark: &Watermark) {}
    fn advance(&mut self, _out: &mut Collector) {}
    fn finish(self: Box<Self>, _out: &mut Collector) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// The engine, configured with the server-host → endpoint mapping.
pub(crate) fn engine_correlator(
    _server_endpoints: &BTreeMap<String, String>,
) -> Box<dyn Correlator> {
    Box::new(Pending)
}
