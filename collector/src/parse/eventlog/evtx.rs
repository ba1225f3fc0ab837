//! SCAFFOLD.
use crate::parse::{Emit, ParseStats, SourceContext};
use std::io::{Read, Seek};
/// SCAFFOLD.
pub fn parse<R: Read + Seek>(
    _ctx: &SourceContext,
    _reader: R,
    _emit: &mut Emit<'_>,
) -> std::io::Result<ParseStats> {
    Ok(ParseStats::default())
}
