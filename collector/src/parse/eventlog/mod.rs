//! Windows event logs in every shape an admin can hand us.
pub mod evtx;
pub mod text;
pub mod xml;
