//! SCAFFOLD.
use super::Format;
/// SCAFFOLD.
pub fn detect(_head: &[u8]) -> Option<Format> {
    None
}
