//! SCAFFOLD.
use scepwatch_proto::v1::ScepMessageInfo;
/// SCAFFOLD.
pub fn decode(_der: &[u8]) -> ScepMessageInfo {
    ScepMessageInfo::default()
}
