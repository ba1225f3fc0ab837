//! One Rust type per table of the schema, and the conversions that fill them from the engine's
//! input (`scepwatch.v1` events and watermarks) and output (attempts, diagnoses).
