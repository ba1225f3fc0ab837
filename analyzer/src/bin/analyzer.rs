//! `scepwatch-analyzer`: the analyzer service (Kafka in, ClickHouse out).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("the analyzer service is being assembled; use `scepwatch diagnose`")
}
