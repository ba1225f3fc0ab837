//! Prometheus text from a program's `/metrics`, read over plain HTTP/1.0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::Error;

/// One scrape of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    text: String,
}

impl Metrics {
    /// `GET /metrics` from `addr`.
    pub fn scrape(addr: SocketAddr) -> Result<Metrics, Error> {
        let (status, body) = http_get(addr, "/metrics")?;
        if status != 200 {
            return Err(Error::Process(format!(
                "GET http://{addr}/metrics answered {status}"
            )));
        }
        Ok(Metrics { text: body })
    }

    /// Metrics from text already fetched.
    pub fn from_text(text: impl Into<String>) -> Metrics {
        Metrics { text: text.into() }
    }

    /// The value of one series, named exactly as it is written, labels included
    /// (`scepwatch_ingestor_refused_streams_total{reason="wrong_token"}`); `None` when absent.
    pub fn value(&self, series: &str) -> Option<f64> {
        self.text.lines().find_map(|l| {
            let rest = l.strip_prefix(series)?;
            let value = rest.strip_prefix(' ')?;
            value.split(' ').next()?.parse().ok()
        })
    }

    /// The value of a series, 0 when absent (counters that were never incremented).
    pub fn get(&self, series: &str) -> f64 {
        self.value(series).unwrap_or(0.0)
    }

    /// The sum of every series of metric `name`, whatever their labels.
    pub fn sum(&self, name: &str) -> f64 {
        self.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let rest = l.strip_prefix(name)?;
                let rest = if rest.starts_with('{') {
                    &rest[rest.find('}')? + 1..]
                } else {
                    rest
                };
                rest.strip_prefix(' ')?
                    .split(' ')
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            // Not `sum()`: it starts from -0.0, which prints as "-0".
            .fold(0.0, |a, b| a + b)
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// `GET path` over HTTP/1.0: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), Error> {
    let what = || format!("GET http://{addr}{path}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| Error::io(what(), e))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| Error::io(what(), e))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: scepwatch\r\n\r\n").as_bytes())
        .map_err(|e| Error::io(what(), e))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| Error::io(what(), e))?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x_total Things.\n# TYPE x_total counter\n\
        x_total{reason=\"a\"} 2\nx_total{reason=\"b\"} 3\nx_totals 100\ny 1.5\n# EOF\n";

    #[test]
    fn series_are_read_by_exact_name_and_summed_over_labels() {
        let m = Metrics::from_text(TEXT);
        assert_eq!(m.value("x_total{reason=\"b\"}"), Some(3.0));
        assert_eq!(m.value("x_total"), None);
        assert_eq!(m.get("absent"), 0.0);
        assert_eq!(m.value("y"), Some(1.5));
        assert_eq!(m.sum("x_total"), 5.0);
        assert_eq!(m.sum("absent").to_string(), "0");
    }
}
