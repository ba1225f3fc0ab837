//! Where accepted batches go: [`record`] turns a batch into Kafka records (one per endpoint,
//! split when large), [`kafka`] publishes them with an idempotent producer.

pub mod kafka;
pub mod record;
