//! Event Viewer text: what "Copy → Copy details as text" puts on the clipboard, pasted into a
//! file one event after another.
//!
//! ```text
//! Log Name:      Application
//! Source:        Application Error
//! Date:          11/20/2026 9:15:02 AM
//! Event ID:      1000
//! Task Category: Application Crashing Events
//! Level:         Error
//! Keywords:      Classic
//! User:          N/A
//! Computer:      NDES01.contoso.com
//! Description:
//! Faulting application name: w3wp.exe, version: 8.5.9600.16384, time stamp: 0x5215df96
//! ...
//! Event Xml:
//! <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">...</Event>
//! ```
//!
//! A `Log Name:` line starts an event; so does an `Event ID:` line when the current event
//! already has one or is past its header (people paste partial copies: the guide's event 36
//! starts at `Event ID:`). The description runs until the next event or an `Event Xml:`
//! section; when that section is there, its XML is read like any exported record and wins over
//! the header. `Date:` is the exporting machine's local time; a block without a readable date
//! takes the source's date hint at midnight, or is counted as `eventtext.no_time`.

use super::record::{self, cut, EventRecord, Mapped, RecordProblem};
use super::timestamp::{parse_local, RecordTime};
use super::xml;
use crate::parse::{Emit, LineParser, ParseStats, SourceContext};
use scepwatch_proto::time::civil_to_us;

/// Parser of Event Viewer text; an event is emitted when the next one starts, or at the end.
#[derive(Debug, Default)]
pub struct EventTextParser {
    block: Option<Block>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Section {
    #[default]
    Header,
    Description,
    Xml,
}

#[derive(Debug, Default)]
struct Block {
    offset: u64,
    record: EventRecord,
    section: Section,
    description: String,
    xml: Vec<u8>,
    /// The block's first bytes, for the excerpt.
    raw: Vec<u8>,
    oversize: bool,
}

impl Block {
    fn new(offset: u64) -> Self {
        Block {
            offset,
            ..Default::default()
        }
    }
}

/// Header keys Event Viewer writes, in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    LogName,
    Source,
    Date,
    EventId,
    TaskCategory,
    Level,
    Computer,
    Description,
    EventXml,
    /// Keywords, User, OpCode: read and dropped.
    Other,
}

fn header_key(line: &str) -> Option<(Key, &str)> {
    let (key, value) = line.split_once(':')?;
    let key = match key.trim_end() {
        "Log Name" => Key::LogName,
        "Source" => Key::Source,
        "Date" => Key::Date,
        "Event ID" => Key::EventId,
        "Task Category" => Key::TaskCategory,
        "Level" => Key::Level,
        "Computer" => Key::Computer,
        "Description" => Key::Description,
        "Event Xml" => Key::EventXml,
        "Keywords" | "User" | "OpCode" => Key::Other,
        _ => return None,
    };
    Some((key, value.trim()))
}

impl LineParser for EventTextParser {
    fn line(
        &mut self,
        ctx: &SourceContext,
        line: &[u8],
        offset: u64,
        stats: &mut ParseStats,
        emit: &mut Emit<'_>,
    ) {
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim();
        let key = header_key(trimmed);
        let section = self.block.as_ref().map(|b| b.section);
        let starts_block = match key {
            Some((Key::LogName, _)) => true,
            Some((Key::EventId, _)) => match &self.block {
                None => true,
                Some(b) => b.record.event_id.is_some() || b.section != Section::Header,
            },
            _ => false,
        };
        if starts_block {
            self.flush(ctx, stats, emit);
            self.block = Some(Block::new(offset));
        }
        let Some(block) = self.block.as_mut() else {
            if !trimmed.is_empty() {
                // Text before the first event: not ours to read.
                stats.records += 1;
                stats.ignored += 1;
            }
            return;
        };
        if block.raw.len() < scepwatch_proto::MAX_EXCERPT {
            if !block.raw.is_empty() {
                block.raw.push(b'\n');
            }
            block.raw.extend_from_slice(line);
        }
        let section = if starts_block {
            Section::Header
        } else {
            section.unwrap_or_default()
        };
        match (section, key) {
            (Section::Header | Section::Description, Some((Key::EventXml, _))) => {
                block.section = Section::Xml;
            }
            (Section::Header, Some((key, value))) => block.header(key, value),
            (Section::Header, None) => {}
            (Section::Description, _) => {
                if block.description.len() + trimmed.len() + 1 > record::MAX_TEXT {
                    block.oversize = true;
                } else {
                    block.description.push_str(trimmed);
                    block.description.push('\n');
                }
            }
            (Section::Xml, _) => {
                if block.xml.len() + line.len() + 1 > xml::MAX_EVENT {
                    block.oversize = true;
                } else {
                    block.xml.extend_from_slice(line);
                    block.xml.push(b'\n');
                }
            }
        }
    }

    fn finish(&mut self, ctx: &SourceContext, stats: &mut ParseStats, emit: &mut Emit<'_>) {
        self.flush(ctx, stats, emit);
    }
}

impl Block {
    fn header(&mut self, key: Key, value: &str) {
        let r = &mut self.record;
        match key {
            Key::LogName => r.channel = value.to_string(),
            Key::Source => r.provider = value.to_string(),
            Key::Date => r.time = parse_local(value),
            Key::EventId => r.event_id = value.parse().ok(),
            Key::TaskCategory => r.task = value.to_string(),
            Key::Level => r.level = EventRecord::level_from_name(value),
            Key::Computer => r.computer = value.to_string(),
            Key::Description => {
                self.section = Section::Description;
                if !value.is_empty() {
                    self.description.push_str(value);
                    self.description.push('\n');
                }
            }
            Key::EventXml | Key::Other => {}
        }
    }
}

impl EventTextParser {
    /// Turn the block being read into an event (or a count).
    fn flush(&mut self, ctx: &SourceContext, stats: &mut ParseStats, emit: &mut Emit<'_>) {
        let Some(block) = self.block.take() else {
            return;
        };
        stats.records += 1;
        if block.oversize {
            stats.error("eventtext.too_large");
            return;
        }
        let mut header = block.record;
        header.message = cut(block.description.trim().to_string(), record::MAX_TEXT);
        let mut rec = match xml::parse_event_xml(&block.xml) {
            Ok(from_xml) if !block.xml.is_empty() => merge(from_xml, header),
            // No XML, or a copy cut inside it: the header is what there is.
            _ => header,
        };
        if rec.time.is_none() {
            rec.time = ctx
                .date_hint
                .and_then(|(y, m, d)| civil_to_us(y, m, d, 0, 0, 0, 0))
                .map(RecordTime::Local);
        }
        match record::to_event(ctx, &rec, block.offset, &block.raw, None) {
            Mapped::Event(e) => {
                stats.saw_event(e.event_time_us);
                emit(*e);
            }
            Mapped::Ignored => stats.ignored += 1,
            Mapped::Failed(RecordProblem::NoTime) => stats.error("eventtext.no_time"),
            Mapped::Failed(RecordProblem::NoEventId) => stats.error("eventtext.no_event_id"),
        }
    }
}

/// The XML's record, with what it lacks taken from the text header.
fn merge(mut xml: EventRecord, header: EventRecord) -> EventRecord {
    let fill = |slot: &mut String, v: String| {
        if slot.is_empty() {
            *slot = v;
        }
    };
    fill(&mut xml.channel, header.channel);
    fill(&mut xml.provider, header.provider);
    fill(&mut xml.computer, header.computer);
    fill(&mut xml.task, header.task);
    fill(&mut xml.message, header.message);
    xml.event_id = xml.event_id.or(header.event_id);
    xml.level = xml.level.or(header.level);
    xml.time = xml.time.or(header.time);
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_stream, Format};
    use proptest::prelude::*;
    use scepwatch_proto::v1::event::Payload;
    use scepwatch_proto::v1::{Capi2Kind, Event, SourceId, SourceKind};

    fn ctx() -> SourceContext {
        SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "ndes01".into(),
                kind: SourceKind::EventLog as i32,
                path: "events.txt".into(),
                stream: String::new(),
            },
            0,
        )
    }

    fn run_with(ctx: &SourceContext, input: &str) -> (Vec<Event>, ParseStats) {
        let mut out = Vec::new();
        let stats = parse_stream(Format::EventText, ctx, input.as_bytes(), &mut |e| {
            out.push(e)
        })
        .unwrap();
        (out, stats)
    }

    fn run(input: &str) -> (Vec<Event>, ParseStats) {
        run_with(&ctx(), input)
    }

    /// The guide's event 1000, with the fields its copy cut off.
    const CRASH: &str = "Log Name:      Application
Source:        Application Error
Date:          11/20/2026 9:15:02 AM
Event ID:      1000
Task Category: Application Crashing Events
Level:         Error
Keywords:      Classic
User:          N/A
Computer:      NDES01.contoso.com
Description: Faulting application name: w3wp.exe, version: 8.5.9600.16384, time stamp: 0x5215df96
Faulting module name: ntdll.dll, version: 6.3.9600.18821, time stamp: 0x59ba86db
Exception code: 0xc0000005
Fault offset: 0x00000000000a4f2f
Faulting process id: 0x1a2c
";

    /// The guide's event 36: no Log Name, no Date.
    const SCEP36: &str = "    Event ID:      36
    Task Category: None
    Level:         Information
    Keywords:
    User:          <UserSid>
    Computer:      <Computer Name>
    Description:
    SCEP: Certificate request generated successfully. Enhanced Key Usage: (1.3.6.1.5.5.7.3.2), NDES URL: (https://ndes.contoso.com/certsrv/mscep/mscep.dll/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).
";

    #[test]
    fn crash_block() {
        let mut c = ctx();
        c.utc_offset_secs = -5 * 3600;
        let (events, stats) = run_with(&c, CRASH);
        assert_eq!(stats.records, 1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].position, 0);
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[0].event_time_us),
            "2026-11-20T14:15:02Z"
        );
        let Some(Payload::AppCrash(a)) = &events[0].payload else {
            panic!()
        };
        assert_eq!(a.application, "w3wp.exe");
        assert_eq!(a.module_version, "6.3.9600.18821");
        assert_eq!(a.exception_code, "0xc0000005");
        assert_eq!(a.process_id, 0x1a2c);
        assert!(events[0]
            .excerpt
            .starts_with("Log Name:      Application\nSource:"));
    }

    #[test]
    fn event36_without_date_takes_the_hint_or_fails() {
        let (events, stats) = run(SCEP36);
        assert!(events.is_empty());
        assert_eq!(stats.errors.get("eventtext.no_time"), Some(&1));

        let mut c = ctx();
        c.date_hint = Some((2026, 11, 20));
        let (events, _) = run_with(&c, SCEP36);
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[0].event_time_us),
            "2026-11-20T00:00:00Z"
        );
        let Some(Payload::WindowsScep(w)) = &events[0].payload else {
            panic!()
        };
        assert_eq!(w.ksp_setting, "0x2");
        assert_eq!(
            events[0].endpoint_id,
            "https://ndes.contoso.com/certsrv/mscep/mscep.dll"
        );
    }

    #[test]
    fn several_blocks_back_to_back() {
        let mut c = ctx();
        c.date_hint = Some((2026, 11, 20));
        let other = "Log Name: System\nSource: Service Control Manager\nDate: 11/20/2026 9:00:00 AM\nEvent ID: 7036\nDescription:\nThe World Wide Web Publishing Service service entered the running state.\n";
        let input = format!("{CRASH}\r\n{other}{SCEP36}{CRASH}");
        let (events, stats) = run_with(&c, &input);
        assert_eq!(stats.records, 4);
        assert_eq!(stats.ignored, 1);
        assert_eq!(events.len(), 3);
        let second_crash = input.rfind("Log Name:      Application").unwrap() as u64;
        assert_eq!(events[2].position, second_crash);
        assert!(matches!(events[1].payload, Some(Payload::WindowsScep(_))));
    }

    #[test]
    fn event_xml_section_wins() {
        let input = r#"Log Name:      Microsoft-Windows-CAPI2/Operational
Source:        Microsoft-Windows-CAPI2
Date:          11/20/2026 9:15:01 AM
Event ID:      53
Task Category: Retrieve Object from Network
Level:         Error
Keywords:      
User:          SYSTEM
Computer:      NDES01.contoso.com
Description:
For more details for this event, please refer to the "Details" section
Event Xml:
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
  <System>
    <Provider Name="Microsoft-Windows-CAPI2" />
    <EventID>53</EventID>
    <Level>2</Level>
    <TimeCreated SystemTime="2026-11-20T09:15:01.4821934Z" />
    <EventRecordID>812</EventRecordID>
    <Channel>Microsoft-Windows-CAPI2/Operational</Channel>
  </System>
  <UserData>
    <CryptRetrieveObjectByUrlWire>
      <URL scheme="http">http://pki.contoso.com/CertEnroll/Contoso-Issuing-CA.crl</URL>
      <Result value="80072EE7">The server name or address could not be resolved</Result>
    </CryptRetrieveObjectByUrlWire>
  </UserData>
</Event>
"#;
        let (events, stats) = run(input);
        assert_eq!(stats.error_count(), 0);
        assert_eq!(events[0].position, 812);
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[0].event_time_us),
            "2026-11-20T09:15:01.482193Z"
        );
        let Some(Payload::Capi2(c)) = &events[0].payload else {
            panic!()
        };
        assert_eq!(c.kind, Capi2Kind::Retrieval as i32);
        assert_eq!(
            c.url,
            "http://pki.contoso.com/CertEnroll/Contoso-Issuing-CA.crl"
        );
        assert_eq!(c.error_code, "80072EE7");
    }

    #[test]
    fn cut_xml_falls_back_to_the_header() {
        let input = "Log Name: Application\nSource: Application Error\nDate: 11/20/2026 9:15:02 AM\nEvent ID: 1000\nDescription:\nFaulting application name: w3wp.exe, version: 1\nEvent Xml:\n<Event><System>\n";
        let (events, _) = run(input);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn stray_text_and_bad_ids() {
        let (events, stats) = run("hello\n\nLog Name: Application\nEvent ID: one thousand\n");
        assert!(events.is_empty());
        assert_eq!(stats.ignored, 1);
        assert_eq!(stats.errors.get("eventtext.no_event_id"), Some(&1));
    }

    #[test]
    fn oversized_description_is_counted() {
        let mut input = String::from("Log Name: Application\nEvent ID: 1000\nDescription:\n");
        for _ in 0..(record::MAX_TEXT / 100 + 2) {
            input.push_str(&"x".repeat(100));
            input.push('\n');
        }
        let (_, stats) = run(&input);
        assert_eq!(stats.errors.get("eventtext.too_large"), Some(&1));
    }

    proptest! {
        #[test]
        fn any_bytes_no_panic(input in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut n = 0;
            let stats = parse_stream(Format::EventText, &ctx(), &input[..], &mut |_| n += 1).unwrap();
            prop_assert_eq!(stats.events, n);
            prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
        }

        #[test]
        fn shuffled_header_lines_no_panic(lines in proptest::collection::vec(
            prop_oneof![
                Just("Log Name: Application".to_string()),
                Just("Source: Application Error".to_string()),
                Just("Event ID: 1000".to_string()),
                Just("Event ID: 36".to_string()),
                Just("Date: 11/20/2026 9:15:02 AM".to_string()),
                Just("Description:".to_string()),
                Just("Event Xml:".to_string()),
                Just("<Event><System><EventID>1000</EventID></System></Event>".to_string()),
                "\\PC{0,30}",
            ], 0..30)) {
            let input = lines.join("\n");
            let (events, stats) = run(&input);
            prop_assert!(events.len() as u64 <= stats.records);
        }
    }
}
