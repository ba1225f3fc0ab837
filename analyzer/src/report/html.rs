//! The HTML report: one self-contained page (inline CSS, one inline script that opens the
//! collapsed sections before printing; no external asset, no request), readable offline and
//! printable. Every string that comes from a log, a path or the engine is escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{groups, human_bytes, plural, severity_label, verdict, Group, ReportOptions};
use crate::diagnose::summary::FileStatus;
use crate::diagnose::RunReport;
use crate::model::{Attempt, Severity, Side};

/// Rows of the file table; the JSON report has them all.
const MAX_FILE_ROWS: usize = 2000;
/// Evidence rows per diagnosis card.
const EVIDENCE_ROWS: usize = 10;
/// Characters of a record shown in an evidence row (the JSON report has all 2 KiB).
const EXCERPT_CHARS: usize = 700;

const CSS: &str = r#"
:root{--crit:#a50e0e;--err:#d93025;--warn:#b06000;--info:#1a73e8;--ok:#188038;--line:#dadce0;--muted:#5f6368}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;margin:0;background:#f8f9fa}
main{max-width:1200px;margin:0 auto;padding:0 16px 40px}
header.verdict{padding:20px 16px;color:#fff;background:var(--ok)}
header.verdict.sev-critical{background:var(--crit)}header.verdict.sev-error{background:var(--err)}
header.verdict.sev-warning{background:var(--warn)}header.verdict.sev-info,header.verdict.sev-none{background:var(--ok)}
header h1{margin:0 0 6px;font-size:20px}header .headline{font-size:17px;margin:0 0 6px}header .meta{opacity:.9;margin:0;font-size:12px}
nav{padding:8px 16px;background:#fff;border-bottom:1px solid var(--line)}nav a{margin-right:16px;color:var(--info)}
h2{margin:28px 0 10px;font-size:18px}
.card{background:#fff;border:1px solid var(--line);border-left:6px solid var(--info);border-radius:6px;padding:12px 16px;margin:12px 0;break-inside:avoid}
.card.sev-critical{border-left-color:var(--crit)}.card.sev-error{border-left-color:var(--err)}.card.sev-warning{border-left-color:var(--warn)}
.card h3{margin:0 0 4px;font-size:16px}.card h4{margin:10px 0 2px;font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.badge{display:inline-block;font-size:11px;font-weight:700;color:#fff;background:var(--info);border-radius:3px;padding:1px 6px;margin-right:6px;vertical-align:middle}
.badge.sev-critical{background:var(--crit)}.badge.sev-error{background:var(--err)}.badge.sev-warning{background:var(--warn)}
.meta-line{color:var(--muted);font-size:12px}
.fix,.explanation{white-space:pre-wrap;margin:0}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}
th,td{border:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top;font-size:12px;overflow-wrap:anywhere}
th{background:#f1f3f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.excerpt{font-family:ui-monospace,Consolas,monospace;font-size:11.5px;word-break:break-all;white-space:pre-wrap}
details.attempt{background:#fff;border:1px solid var(--line);border-left:6px solid var(--ok);border-radius:6px;margin:8px 0;padding:6px 12px}
details.attempt.sev-critical{border-left-color:var(--crit)}details.attempt.sev-error{border-left-color:var(--err)}details.attempt.sev-warning{border-left-color:var(--warn)}
details summary{cursor:pointer}
table.timeline td.lane{width:40%}table.timeline td.device .step{background:#e8f0fe}table.timeline td.server .step{background:#fce8e6}table.timeline td.probe .step{background:#fef7e0}
.step{border-radius:4px;padding:2px 6px;display:inline-block}
.muted{color:var(--muted)}
@media print{body{background:#fff}nav{display:none}header.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}.card,details.attempt{break-inside:avoid}}
"#;

const SCRIPT: &str = "addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true})});";

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Names shown in one table cell before "and N more".
const MAX_NAMES: usize = 40;

fn names(v: &[String]) -> String {
    let mut s = v
        .iter()
        .take(MAX_NAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if v.len() > MAX_NAMES {
        let _ = write!(s, " and {} more", v.len() - MAX_NAMES);
    }
    s
}

/// `s` cut to `max` characters, with an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_string(),
    }
}

fn sev_class(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Critical) => "sev-critical",
        Some(Severity::Error) => "sev-error",
        Some(Severity::Warning) => "sev-warning",
        Some(Severity::Info) => "sev-info",
        None => "sev-none",
    }
}

/// Writes the HTML report.
pub fn render(report: &RunReport, opts: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut h = String::with_capacity(64 * 1024);
    let v = verdict(report);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>scepwatch diagnosis: {}</title><style>{CSS}</style></head><body>\n",
        esc(&v.headline)
    );
    let verdict_sev = v.severity.filter(|s| *s >= Severity::Warning);
    let _ = writeln!(
        h,
        "<header class=\"verdict {}\"><h1>scepwatch diagnosis</h1><p class=\"headline\">{}</p>\
         <p class=\"meta\">inputs: {} · scepwatch {}{}</p></header>",
        sev_class(verdict_sev),
        esc(&v.headline),
        esc(&report.inputs.join(", ")),
        env!("CARGO_PKG_VERSION"),
        opts.timestamp
            .as_deref()
            .map(|t| format!(" · generated {}", esc(t)))
            .unwrap_or_default()
    );
    h.push_str(
        "<nav><a href=\"#diagnoses\">Diagnoses</a><a href=\"#attempts\">Attempts</a>\
         <a href=\"#endpoints\">Endpoints</a><a href=\"#files\">Files</a></nav><main>\n",
    );
    diagnoses(report, opts, &mut h);
    attempts(report, &mut h);
    endpoints(report, &mut h);
    files(report, &mut h);
    let _ = writeln!(h, "</main><script>{SCRIPT}</script></body></html>");
    out.write_all(h.as_bytes())
}

fn diagnoses(report: &RunReport, opts: &ReportOptions, h: &mut String) {
    h.push_str("<section id=\"diagnoses\"><h2>Diagnoses</h2>\n");
    let gs = groups(report, opts.min_severity);
    if gs.is_empty() {
        h.push_str("<p>No diagnosis.</p>\n");
    }
    for g in &gs {
        card(g, h);
    }
    let hidden = report
        .diagnoses
        .iter()
        .filter(|d| d.severity < opts.min_severity)
        .count();
    if hidden > 0 {
        let _ = writeln!(
            h,
            "<p class=\"muted\">{hidden} diagnosis(es) below {} not shown.</p>",
            opts.min_severity.name()
        );
    }
    h.push_str("</section>\n");
}

fn card(g: &Group<'_>, h: &mut String) {
    let Some(lead) = g.lead() else { return };
    let cls = sev_class(Some(g.severity));
    let _ = write!(
        h,
        "<article class=\"card {cls}\" id=\"diag-{}\"><h3><span class=\"badge {cls}\">{}</span>{}</h3>",
        esc(g.code),
        severity_label(g.severity),
        esc(&lead.title)
    );
    let mut meta = vec![format!("<code>{}</code>", esc(g.code))];
    if lead.catalog_row > 0 {
        meta.push(format!("catalog row {}", lead.catalog_row));
    }
    meta.push(format!(
        "{} occurrence{}",
        g.occurrences,
        plural(g.occurrences)
    ));
    if g.count > 1 {
        meta.push(format!("{} diagnoses", g.count));
    }
    if !g.servers.is_empty() {
        let v: Vec<String> = g.servers.iter().map(|s| esc(s)).collect();
        meta.push(format!("servers: {}", v.join(", ")));
    }
    if g.attempts > 0 {
        meta.push(format!("attempts: {}", g.attempts));
    }
    if !g.endpoints.is_empty() {
        let v: Vec<String> = g.endpoints.iter().map(|s| esc(s)).collect();
        meta.push(format!("endpoint: {}", v.join(", ")));
    }
    meta.push(format!("{} … {}", esc(g.first_seen), esc(g.last_seen)));
    let _ = write!(
        h,
        "<p class=\"meta-line\">{}</p><h4>What it means</h4><p class=\"explanation\">{}</p>\
         <h4>Fix</h4><p class=\"fix\">{}</p>",
        meta.join(" · "),
        esc(&lead.explanation),
        esc(&lead.fix)
    );
    let ev = g.evidence(EVIDENCE_ROWS);
    if !ev.is_empty() {
        h.push_str(
            "<h4>Evidence</h4><table class=\"evidence\"><thead><tr><th>Time</th><th>Host</th>\
             <th>Source</th><th>What it shows</th><th>Record</th></tr></thead><tbody>",
        );
        for e in ev {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} <span class=\"muted\">({})</span></td><td>{}</td>\
                 <td class=\"excerpt\">{}</td></tr>",
                esc(&e.time),
                esc(&e.host),
                esc(&e.source),
                esc(&e.kind),
                esc(&e.note),
                esc(&cut(&e.excerpt, EXCERPT_CHARS))
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</article>\n");
}

fn attempts(report: &RunReport, h: &mut String) {
    let c = &report.attempt_counts;
    let _ = write!(
        h,
        "<section id=\"attempts\"><h2>Attempts</h2><p>{} attempt{} ({} listed, worst first).",
        c.total,
        plural(c.total),
        c.listed
    );
    for (label, map) in [("Joined by", &c.by_join), ("Platforms", &c.by_platform)] {
        if !map.is_empty() {
            let v: Vec<String> = map.iter().map(|(k, n)| format!("{} {n}", esc(k))).collect();
            let _ = write!(h, " {label}: {}.", v.join(", "));
        }
    }
    h.push_str("</p>\n");
    for a in &report.attempts {
        attempt(a, h);
    }
    h.push_str("</section>\n");
}

fn attempt(a: &Attempt, h: &mut String) {
    let cls = sev_class(Some(a.severity));
    let open = if a.severity >= Severity::Error {
        " open"
    } else {
        ""
    };
    let who = match (&a.device, a.platform) {
        (Some(d), p) => format!("{} {}", crate::diagnose::summary::platform_name(p), d),
        (None, crate::model::Platform::Unknown) => format!(
            "{} client",
            a.user_agent_family.as_deref().unwrap_or("unknown")
        ),
        (None, p) => format!("{} device", crate::diagnose::summary::platform_name(p)),
    };
    let _ = write!(
        h,
        "<details class=\"attempt {cls}\"{open}><summary><span class=\"badge {cls}\">{}</span>{} · {} → {} · {} ({})",
        severity_label(a.severity),
        esc(&a.start),
        esc(&who),
        esc(&if a.servers.is_empty() {
            "no server record".to_string()
        } else {
            a.servers.join(", ")
        }),
        crate::diagnose::summary::join_name(a.join),
        match a.confidence {
            crate::model::Confidence::High => "high confidence",
            crate::model::Confidence::Medium => "medium confidence",
            crate::model::Confidence::Low => "low confidence",
        }
    );
    if !a.diagnoses.is_empty() {
        let v: Vec<String> = a.diagnoses.iter().map(|d| esc(d)).collect();
        let _ = write!(h, " · {}", v.join(", "));
    }
    let _ = write!(
        h,
        "</summary><p class=\"meta-line\">endpoint {} · client {} · user agent {} · transaction {}</p>",
        esc(&a.endpoint),
        esc(a.client_ip.as_deref().unwrap_or("-")),
        esc(a.user_agent_family.as_deref().unwrap_or("-")),
        esc(&if a.transaction_ids.is_empty() {
            "-".to_string()
        } else {
            a.transaction_ids.join(", ")
        }),
    );
    h.push_str(
        "<table class=\"timeline\"><thead><tr><th>Time</th><th>Device</th><th>Server</th></tr></thead><tbody>",
    );
    for s in &a.steps {
        let step = format!(
            "<span class=\"step\">{}</span> <span class=\"muted\">{}</span>",
            esc(&s.what),
            esc(&s.host)
        );
        let (device, server) = match s.side {
            Side::Device => (
                format!("<td class=\"lane device\">{step}</td>"),
                "<td class=\"lane\"></td>".to_string(),
            ),
            Side::Server => (
                "<td class=\"lane\"></td>".to_string(),
                format!("<td class=\"lane server\">{step}</td>"),
            ),
            Side::Probe => (
                "<td class=\"lane\"></td>".to_string(),
                format!("<td class=\"lane probe\">probe: {step}</td>"),
            ),
        };
        let _ = write!(h, "<tr><td>{}</td>{device}{server}</tr>", esc(&s.time));
    }
    h.push_str("</tbody></table></details>\n");
}

fn endpoints(report: &RunReport, h: &mut String) {
    h.push_str(
        "<section id=\"endpoints\"><h2>Endpoints</h2><table><thead><tr><th>Endpoint</th>\
         <th>Servers</th><th>Devices</th><th>Device events</th><th>Probe events</th>\
         <th>Attempts</th><th>Diagnoses</th></tr></thead><tbody>",
    );
    for e in &report.endpoints {
        let _ = write!(
            h,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&e.id),
            if e.via_app_proxy {
                " <span class=\"muted\">(application proxy)</span>"
            } else {
                ""
            },
            esc(&names(&e.servers)),
            esc(&names(&e.devices)),
            e.device_events,
            e.probe_events,
            e.attempts,
            e.diagnoses
        );
    }
    let _ = write!(
        h,
        "</tbody></table><p><strong>Mapping of server logs:</strong> {}</p>",
        esc(&report.mapping_note)
    );
    if !report.mapping.is_empty() {
        h.push_str(
            "<table><thead><tr><th>Server</th><th>Endpoint</th><th>How</th></tr></thead><tbody>",
        );
        for m in &report.mapping {
            let how = match m.source {
                crate::diagnose::summary::MappingSource::Flag => "--endpoint",
                crate::diagnose::summary::MappingSource::DeviceLogs => "most used by devices",
                crate::diagnose::summary::MappingSource::None => "not mapped",
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{how}</td></tr>",
                esc(&m.host),
                esc(&m.endpoint)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>\n");
}

fn files(report: &RunReport, h: &mut String) {
    h.push_str(
        "<section id=\"files\"><h2>What was read</h2><table><thead><tr><th>Parser</th><th>Files</th>\
         <th>Bytes</th><th>Records</th><th>Events</th><th>Malformed records</th></tr></thead><tbody>",
    );
    for (name, t) in &report.parsers {
        let errs: Vec<String> = t
            .errors
            .iter()
            .map(|(k, n)| format!("{} ×{n}", esc(k)))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            esc(name),
            t.files,
            human_bytes(t.bytes),
            t.records,
            t.events,
            errs.join(", ")
        );
    }
    h.push_str(
        "</tbody></table><table><thead><tr><th>File</th><th>Host</th><th>Format</th><th>Status</th>\
         <th>Records</th><th>Events</th><th>Errors</th></tr></thead><tbody>",
    );
    for f in report.files.iter().take(MAX_FILE_ROWS) {
        let status = match f.status {
            FileStatus::Parsed => "parsed".to_string(),
            FileStatus::Partial | FileStatus::Skipped => format!(
                "{}: {} <span class=\"muted\">{}</span>",
                if f.status == FileStatus::Partial {
                    "partial"
                } else {
                    "skipped"
                },
                esc(f.reason.as_deref().unwrap_or("")),
                esc(f.detail.as_deref().unwrap_or(""))
            ),
        };
        let errs: Vec<String> = f
            .errors
            .iter()
            .map(|(k, n)| format!("{} ×{n}", esc(k)))
            .collect();
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{status}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&f.path),
            esc(&f.host),
            esc(f.format.as_deref().unwrap_or("-")),
            f.records,
            f.events,
            errs.join(", ")
        );
    }
    h.push_str("</tbody></table>");
    if report.files.len() > MAX_FILE_ROWS {
        let _ = write!(
            h,
            "<p class=\"muted\">{} more files: see the JSON report.</p>",
            report.files.len() - MAX_FILE_ROWS
        );
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn page() -> String {
        let mut out = Vec::new();
        render(&fixture::report(), &ReportOptions::default(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn log_text_is_escaped() {
        let p = page();
        assert!(!p.contains("<script>alert"));
        assert!(p.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!p.contains("<img src=x>"));
        assert!(p.contains("PKIOperation → 500 &lt;b&gt;"));
        assert_eq!(
            p.matches("<script").count(),
            1,
            "only the inline print script"
        );
    }

    #[test]
    fn verdict_and_cards_are_there() {
        let p = page();
        assert!(p.contains("<header class=\"verdict sev-critical\">"));
        assert!(p.contains("IIS_IUSRS lacks the impersonation right"));
        assert!(p.contains("<table class=\"timeline\">"));
        assert!(!p.contains("<link"));
    }
}
