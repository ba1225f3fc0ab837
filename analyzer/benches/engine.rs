//! Engine throughput (filled in below).
fn main() {}
