//! scepwatch ingestor (being written).
