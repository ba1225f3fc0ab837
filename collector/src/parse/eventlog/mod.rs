//! Windows event logs in every shape an admin can hand over: `.evtx` files ([`evtx`]),
//! `wevtutil` and `Get-WinEvent | ConvertTo-Xml` XML ([`xml`]), and Event Viewer text
//! ([`text`]).
//!
//! Each shape reads its records into one [`record::EventRecord`]; [`record::to_event`] decides
//! what becomes an event: Application Error 1000 crashes, CAPI2 errors, and the Windows
//! device's SCEP request (DeviceManagement event 36). Everything else is counted as ignored.
pub mod evtx;
pub mod record;
pub mod text;
pub mod timestamp;
pub mod xml;
