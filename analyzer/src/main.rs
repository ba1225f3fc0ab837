//! SCAFFOLD.
fn main() {}
