//! SCAFFOLD: replaced by the real parser.
use super::{Emit, LineParser, ParseStats, SourceContext};

/// SCAFFOLD.
#[derive(Debug, Default)]
pub struct SetupMsiParser;

impl LineParser for SetupMsiParser {
    fn line(
        &mut self,
        _ctx: &SourceContext,
        _line: &[u8],
        _offset: u64,
        stats: &mut ParseStats,
        _emit: &mut Emit<'_>,
    ) {
        stats.records += 1;
        stats.ignored += 1;
    }
}
