//! SCAFFOLD.
use crate::parse::{Emit, ParseStats, SourceContext};
use std::io::BufRead;
/// SCAFFOLD.
pub fn parse<R: BufRead>(
    _ctx: &SourceContext,
    _reader: R,
    _emit: &mut Emit<'_>,
) -> std::io::Result<ParseStats> {
    Ok(ParseStats::default())
}
