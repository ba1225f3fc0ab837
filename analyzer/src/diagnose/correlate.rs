//! The engine behind the pipeline's [`Correlator`] seam.
use std::collections::BTreeMap;

use scepwatch_proto::v1::{Event, SourceId, Watermark};

use super::run::Correlator;
use super::summary::Collector;
use crate::engine::{AttemptSummary, Engine, EngineConfig, Sink};
use crate::model::{Attempt, Diagnosis};

impl Sink for Collector {
    fn attempt(&mut self, a: Attempt) {
        Collector::attempt(self, a);
    }

    fn diagnosis(&mut self, d: Diagnosis) {
        Collector::diagnosis(self, d);
    }

    fn wants_attempt(&mut self, s: &AttemptSummary<'_>) -> bool {
        Collector::wants_attempt(self, s.severity, s.start_us, s.id)
    }

    fn attempt_summary(&mut self, s: &AttemptSummary<'_>) {
        Collector::count_attempt(self, s.id, s.join, s.platform, s.severity, s.endpoint);
    }
}

impl Correlator for Engine {
    fn push(&mut self, event: &Event) {
        Engine::push(self, event);
    }

    fn push_batch(&mut self, source: &SourceId, events: &[Event]) {
        Engine::push_from(self, source, events);
    }

    fn watermark(&mut self, watermark: &Watermark) {
        Engine::watermark(self, watermark);
    }

    fn advance(&mut self, out: &mut Collector) {
        Engine::advance(self, out);
    }

    fn finish(self: Box<Self>, out: &mut Collector) -> BTreeMap<String, u64> {
        let s = self.stats();
        Engine::finish(*self, out);
        let mut m = BTreeMap::new();
        m.insert("events".to_string(), s.events);
        m.insert("watermarks".to_string(), s.watermarks);
        m.insert("late_events".to_string(), s.late_events);
        m.insert("sources".to_string(), s.sources as u64);
        m.insert("server_hosts".to_string(), s.hosts as u64);
        m.insert("endpoints".to_string(), s.endpoints as u64);
        for (kind, n) in s.events_by_kind {
            m.insert(format!("events.{kind}"), n);
        }
        m
    }
}

/// The engine, configured with the server-host → endpoint mapping.
pub(crate) fn engine_correlator(
    server_endpoints: &BTreeMap<String, String>,
) -> Box<dyn Correlator> {
    Box::new(Engine::new(EngineConfig {
        server_endpoints: server_endpoints
            .iter()
            .map(|(h, e)| (h.to_ascii_lowercase(), e.clone()))
            .collect(),
        ..EngineConfig::default()
    }))
}
