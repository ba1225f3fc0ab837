//! The text report: the verdict, what was read, the endpoints, then one block per diagnosis
//! code, worst first, each with its explanation, fix and a few evidence lines.
//!
//! Text from logs is printed with control characters replaced, so a log line cannot move the
//! cursor or recolour the terminal.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{groups, human_bytes, plural, severity_label, verdict, ReportOptions};
use crate::diagnose::summary::FileStatus;
use crate::diagnose::RunReport;
use crate::model::Severity;

/// Files listed by name among the skipped / partial ones; the JSON report has them all.
const MAX_PROBLEM_FILES: usize = 40;
/// Evidence lines per diagnosis code.
const EVIDENCE_LINES: usize = 3;
/// Characters of an evidence excerpt shown.
const EXCERPT_CHARS: usize = 200;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    fn severity(&self, sev: Severity) -> String {
        let code = match sev {
            Severity::Critical => "1;31",
            Severity::Error => "31",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        self.paint(code, &format!("[{}]", severity_label(sev)))
    }
}

/// `s` with control characters replaced and cut to `max` characters.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 4));
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Writes the text report.
pub fn render(report: &RunReport, opts: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let st = Style { color: opts.color };
    let mut s = String::new();
    let v = verdict(report);
    let head = match v.severity {
        Some(sev) if sev >= Severity::Warning => format!("{} {}", st.severity(sev), v.headline),
        _ => v.headline.clone(),
    };
    let _ = writeln!(s, "{} {}", st.bold("scepwatch diagnose:"), head);
    if let Some(t) = &opts.timestamp {
        let _ = writeln!(s, "{}", st.dim(&format!("generated {t}")));
    }
    summary(report, &st, &mut s);
    diagnoses(report, opts, &st, &mut s);
    out.write_all(s.as_bytes())
}

fn summary(report: &RunReport, st: &Style, s: &mut String) {
    let (mut parsed, mut partial, mut skipped) = (0u64, 0u64, 0u64);
    let (mut bytes, mut records, mut events, mut errors) = (0u64, 0u64, 0u64, 0u64);
    for f in &report.files {
        match f.status {
            FileStatus::Parsed => parsed += 1,
            FileStatus::Partial => partial += 1,
            FileStatus::Skipped => skipped += 1,
        }
        bytes += f.bytes;
        records += f.records;
        events += f.events;
        errors += f.errors.values().sum::<u64>();
    }
    let _ = writeln!(s, "\n{}", st.bold("Read"));
    let _ = writeln!(
        s,
        "  {} file{} read ({} in full, {} in part), {} skipped · {} · {} records · {} events · {} malformed records",
        num(parsed + partial),
        plural(parsed + partial),
        num(parsed),
        num(partial),
        num(skipped),
        human_bytes(bytes),
        num(records),
        num(events),
        num(errors),
    );
    for (name, t) in &report.parsers {
        let errs: Vec<String> = t
            .errors
            .iter()
            .map(|(k, n)| format!("{k} ×{}", num(*n)))
            .collect();
        let _ = writeln!(
            s,
            "  {:<14} {:>5} file{} {:>10} {:>12} records {:>10} events{}",
            name,
            num(t.files),
            if t.files == 1 { " " } else { "s" },
            human_bytes(t.bytes),
            num(t.records),
            num(t.events),
            if errs.is_empty() {
                String::new()
            } else {
                format!("  errors: {}", errs.join(", "))
            }
        );
    }
    let problems: Vec<_> = report
        .files
        .iter()
        .filter(|f| f.status != FileStatus::Parsed)
        .collect();
    if !problems.is_empty() {
        let by_reason: Vec<String> = report
            .problems
            .iter()
            .map(|(k, n)| format!("{k} ×{}", num(*n)))
            .collect();
        let _ = writeln!(
            s,
            "  not read or read in part: {} ({})",
            num(problems.len() as u64),
            by_reason.join(", ")
        );
        for f in problems.iter().take(MAX_PROBLEM_FILES) {
            let what = if f.status == FileStatus::Partial {
                "partial"
            } else {
                "skipped"
            };
            let _ = writeln!(
                s,
                "    {} {}  {}: {}",
                st.dim(what),
                clean(&f.path, 120),
                f.reason.as_deref().unwrap_or("?"),
                clean(f.detail.as_deref().unwrap_or(""), 160)
            );
        }
        if problems.len() > MAX_PROBLEM_FILES {
            let _ = writeln!(
                s,
                "    … {} more (all are in --format json)",
                problems.len() - MAX_PROBLEM_FILES
            );
        }
    }

    let _ = writeln!(s, "\n{}", st.bold("Endpoints"));
    if report.endpoints.is_empty() {
        let _ = writeln!(s, "  none named by any log");
    }
    for e in &report.endpoints {
        let _ = writeln!(
            s,
            "  {}{}",
            clean(&e.id, 200),
            if e.via_app_proxy {
                " (application proxy)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "    servers: {} · devices: {} · {} device events, {} probe events · {} attempts · {} diagnoses",
            list_or_none(&e.servers),
            list_or_none(&e.devices),
            num(e.device_events),
            num(e.probe_events),
            num(e.attempts),
            num(e.diagnoses),
        );
    }
    let _ = writeln!(s, "  mapping: {}", report.mapping_note);

    let c = &report.attempt_counts;
    let _ = writeln!(s, "\n{}", st.bold("Attempts"));
    let joins: Vec<String> = c
        .by_join
        .iter()
        .map(|(k, n)| format!("{k} {}", num(*n)))
        .collect();
    let platforms: Vec<String> = c
        .by_platform
        .iter()
        .map(|(k, n)| format!("{k} {}", num(*n)))
        .collect();
    let _ = writeln!(
        s,
        "  {} attempt{}{}{}",
        num(c.total),
        plural(c.total),
        if joins.is_empty() {
            String::new()
        } else {
            format!(" · joined by {}", joins.join(", "))
        },
        if platforms.is_empty() {
            String::new()
        } else {
            format!(" · {}", platforms.join(", "))
        },
    );
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "-".to_string()
    } else {
        v.iter()
            .map(|h| clean(h, 80))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn diagnoses(report: &RunReport, opts: &ReportOptions, st: &Style, s: &mut String) {
    let gs = groups(report, opts.min_severity);
    let hidden = report
        .diagnoses
        .iter()
        .filter(|d| d.severity < opts.min_severity)
        .count() as u64;
    let _ = writeln!(s, "\n{}", st.bold("Diagnoses"));
    if gs.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for g in &gs {
        let Some(lead) = g.lead() else { continue };
        let _ = writeln!(
            s,
            "\n{} {}  {}",
            st.severity(g.severity),
            st.bold(&clean(&lead.title, 200)),
            st.dim(&format!(
                "({}{})",
                g.code,
                if lead.catalog_row > 0 {
                    format!(", catalog row {}", lead.catalog_row)
                } else {
                    String::new()
                }
            ))
        );
        let mut where_ = Vec::new();
        if !g.servers.is_empty() {
            let v: Vec<String> = g.servers.iter().cloned().collect();
            where_.push(format!("servers: {}", list_or_none(&v)));
        }
        if g.attempts > 0 {
            where_.push(format!("attempts: {}", num(g.attempts)));
        }
        if !g.endpoints.is_empty() {
            let v: Vec<String> = g.endpoints.iter().cloned().collect();
            where_.push(format!("endpoint: {}", list_or_none(&v)));
        }
        let _ = writeln!(
            s,
            "  {} occurrence{}{}{} · {} … {}",
            num(g.occurrences),
            plural(g.occurrences),
            if g.count > 1 {
                format!(" in {} diagnoses", g.count)
            } else {
                String::new()
            },
            if where_.is_empty() {
                String::new()
            } else {
                format!(" · {}", where_.join(" · "))
            },
            g.first_seen,
            g.last_seen
        );
        block(s, "why", &lead.explanation);
        block(s, "fix", &lead.fix);
        let ev = g.evidence(EVIDENCE_LINES);
        if !ev.is_empty() {
            let _ = writeln!(s, "  evidence:");
        }
        for e in ev {
            let _ = writeln!(
                s,
                "    {} {} {}: {}",
                e.time,
                clean(&e.host, 60),
                clean(&e.source, 120),
                clean(&e.excerpt, EXCERPT_CHARS)
            );
            if !e.note.is_empty() {
                let _ = writeln!(s, "      {}", st.dim(&format!("→ {}", clean(&e.note, 200))));
            }
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            s,
            "\n{}",
            st.dim(&format!(
                "{hidden} diagnosis(es) below {} not shown",
                opts.min_severity.name()
            ))
        );
    }
}

/// A labelled, indented paragraph; continuation lines are aligned under the first.
fn block(s: &mut String, label: &str, text: &str) {
    let mut first = true;
    for line in text.lines() {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if first {
            let _ = writeln!(s, "  {label}: {line}");
            first = false;
        } else {
            let _ = writeln!(s, "  {:width$}  {line}", "", width = label.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn text(opts: &ReportOptions) -> String {
        let mut out = Vec::new();
        render(&fixture::report(), opts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn worst_first_with_fix_and_evidence() {
        let t = text(&ReportOptions::default());
        let crit = t.find("[CRITICAL] IIS_IUSRS").unwrap();
        let info = t.find("[INFO] Android device").unwrap();
        assert!(crit < info);
        assert!(t.contains("fix: 1. secpol.msc"));
        assert!(t.contains("12 occurrences"));
        assert!(t.contains("servers: ndes01"));
        assert!(t.contains("format.binary"));
        assert!(!t.contains('\x1b'), "no colour unless asked");
    }

    #[test]
    fn colour_only_when_asked_and_control_chars_removed() {
        let t = text(&ReportOptions {
            color: true,
            ..ReportOptions::default()
        });
        assert!(t.contains("\x1b[1;31m[CRITICAL]"));
        assert_eq!(clean("a\x1b[2Jb\n", 10), "a [2Jb ");
        assert_eq!(clean("abcdef", 3), "abc…");
    }

    #[test]
    fn numbers_have_separators() {
        assert_eq!(num(1_234_567), "1,234,567");
        assert_eq!(num(12), "12");
    }
}
