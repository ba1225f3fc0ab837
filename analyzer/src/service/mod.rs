//! The analyzer service: a Kafka consumer group over the events topic that runs the engine per
//! partition and stores events, attempts, diagnoses and incidents in ClickHouse.
