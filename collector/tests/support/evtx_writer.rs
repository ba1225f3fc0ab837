//! A minimal `.evtx` writer, for tests only: Windows is not around to write real logs.
//!
//! Written from the published description of the format (Microsoft's MS-EVEN6 BinXML token
//! grammar and the libevtx "Windows XML Event Log (EVTX)" format notes):
//!
//! - file header, 4096 bytes: `ElfFile\0`, first/last chunk number, next record ID, header size
//!   128, version 3.1, header block size 4096, chunk count, flags, and the CRC32 of its first
//!   120 bytes at offset 124;
//! - chunks of 65536 bytes: `ElfChnk\0`, first/last record number and ID, header size 128, the
//!   offset of the last record, the free space offset, the CRC32 of the records (offset 512 up
//!   to the free space) at 52, and at 124 the CRC32 of header bytes 0..120 and 128..512 (the
//!   string and template tables, left empty here);
//! - records from chunk offset 512: `**\0\0`, size, record ID, FILETIME written, BinXML,
//!   size again;
//! - BinXML without templates: a fragment header, then elements (`OpenStartElement` with the
//!   name stored inline the first time it is used, attributes, `CloseStartElement` or
//!   `CloseEmptyElement`, content, `EndElement`) and `EndOfStream`. Values are UTF-16 strings.
//!
//! Every element name is written inline where it is used (the format allows names to be shared
//! through the chunk's string table; nothing requires it).

#![allow(dead_code)]

/// An XML node to encode.
#[derive(Debug, Clone)]
pub enum Node {
    /// An element with attributes and children.
    Element {
        name: String,
        attributes: Vec<(String, String)>,
        children: Vec<Node>,
    },
    /// Character data.
    Text(String),
}

/// An element.
pub fn el(name: &str, attributes: &[(&str, &str)], children: Vec<Node>) -> Node {
    Node::Element {
        name: name.to_string(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        children,
    }
}

/// An element holding only text.
pub fn text_el(name: &str, attributes: &[(&str, &str)], text: &str) -> Node {
    el(name, attributes, vec![Node::Text(text.to_string())])
}

/// One record to write.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    /// When it was written, microseconds since the Unix epoch.
    pub written_us: i64,
    pub event: Node,
}

pub const FILE_HEADER_SIZE: usize = 4096;
pub const CHUNK_SIZE: usize = 65536;
const CHUNK_HEADER_SIZE: usize = 512;

/// FILETIME (100 ns since 1601-01-01) of a Unix time in microseconds.
pub fn filetime(unix_us: i64) -> u64 {
    (unix_us * 10 + 116_444_736_000_000_000) as u64
}

mod token {
    pub const END_OF_STREAM: u8 = 0x00;
    pub const OPEN_START_ELEMENT: u8 = 0x01;
    pub const CLOSE_START_ELEMENT: u8 = 0x02;
    pub const CLOSE_EMPTY_ELEMENT: u8 = 0x03;
    pub const END_ELEMENT: u8 = 0x04;
    pub const VALUE: u8 = 0x05;
    pub const ATTRIBUTE: u8 = 0x06;
    pub const FRAGMENT_HEADER: u8 = 0x0f;
    /// Flag on OpenStartElement (has attributes) and Attribute (more follow).
    pub const MORE: u8 = 0x40;
    pub const STRING_TYPE: u8 = 0x01;
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn patch_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The 16-bit name hash: h = h * 65599 + code unit over the UTF-16 string, low 16 bits.
fn name_hash(units: &[u16]) -> u16 {
    let h = units.iter().fold(0u32, |h, &u| {
        h.wrapping_mul(65599).wrapping_add(u32::from(u))
    });
    (h & 0xffff) as u16
}

/// A name reference with the name stored right after it. `base` is the chunk offset of
/// `out[0]`.
fn put_name(out: &mut Vec<u8>, base: usize, name: &str) {
    let units: Vec<u16> = name.encode_utf16().collect();
    let here = base + out.len() + 4;
    put_u32(out, here as u32);
    put_u32(out, 0); // next string in the same hash bucket: none
    put_u16(out, name_hash(&units));
    put_u16(out, units.len() as u16);
    for u in units {
        put_u16(out, u);
    }
    put_u16(out, 0);
}

fn put_value(out: &mut Vec<u8>, text: &str) {
    let units: Vec<u16> = text.encode_utf16().collect();
    out.push(token::VALUE);
    out.push(token::STRING_TYPE);
    put_u16(out, units.len() as u16);
    for u in units {
        put_u16(out, u);
    }
}

fn put_node(out: &mut Vec<u8>, base: usize, node: &Node) {
    match node {
        Node::Text(t) => put_value(out, t),
        Node::Element {
            name,
            attributes,
            children,
        } => {
            let has_attributes = !attributes.is_empty();
            out.push(if has_attributes {
                token::OPEN_START_ELEMENT | token::MORE
            } else {
                token::OPEN_START_ELEMENT
            });
            let size_at = out.len();
            put_u32(out, 0);
            put_name(out, base, name);
            if has_attributes {
                let list_at = out.len();
                put_u32(out, 0);
                for (i, (k, v)) in attributes.iter().enumerate() {
                    let more = i + 1 < attributes.len();
                    out.push(if more {
                        token::ATTRIBUTE | token::MORE
                    } else {
                        token::ATTRIBUTE
                    });
                    put_name(out, base, k);
                    put_value(out, v);
                }
                let len = out.len() - list_at - 4;
                patch_u32(out, list_at, len as u32);
            }
            if children.is_empty() {
                out.push(token::CLOSE_EMPTY_ELEMENT);
            } else {
                out.push(token::CLOSE_START_ELEMENT);
                for c in children {
                    put_node(out, base, c);
                }
                out.push(token::END_ELEMENT);
            }
            let len = out.len() - size_at - 4;
            patch_u32(out, size_at, len as u32);
        }
    }
}

/// One event record at chunk offset `at`.
fn put_record(chunk: &mut Vec<u8>, record: &Record) {
    let start = chunk.len();
    chunk.extend_from_slice(b"**\0\0");
    put_u32(chunk, 0);
    chunk.extend_from_slice(&record.id.to_le_bytes());
    chunk.extend_from_slice(&filetime(record.written_us).to_le_bytes());
    let base = chunk.len();
    let mut binxml = vec![token::FRAGMENT_HEADER, 1, 1, 0];
    put_node(&mut binxml, base, &record.event);
    binxml.push(token::END_OF_STREAM);
    chunk.extend_from_slice(&binxml);
    // Records are 8-byte aligned; the padding sits after the end of the stream.
    while !(chunk.len() + 4 - start).is_multiple_of(8) {
        chunk.push(0);
    }
    let size = (chunk.len() + 4 - start) as u32;
    put_u32(chunk, size);
    patch_u32(chunk, start + 4, size);
}

/// One chunk holding `records` (which must fit in 64 KiB).
pub fn chunk(records: &[Record]) -> Vec<u8> {
    let mut c = vec![0u8; CHUNK_HEADER_SIZE];
    c[..8].copy_from_slice(b"ElfChnk\0");
    let mut last_offset = CHUNK_HEADER_SIZE;
    for r in records {
        last_offset = c.len();
        put_record(&mut c, r);
    }
    assert!(c.len() <= CHUNK_SIZE, "records do not fit in one chunk");
    let free = c.len();
    let first_id = records.first().map_or(0, |r| r.id);
    let last_id = records.last().map_or(0, |r| r.id);
    c[8..16].copy_from_slice(&first_id.to_le_bytes()); // record numbers follow the IDs
    c[16..24].copy_from_slice(&last_id.to_le_bytes());
    c[24..32].copy_from_slice(&first_id.to_le_bytes());
    c[32..40].copy_from_slice(&last_id.to_le_bytes());
    patch_u32(&mut c, 40, 128);
    patch_u32(&mut c, 44, last_offset as u32);
    patch_u32(&mut c, 48, free as u32);
    let data_crc = crc32fast::hash(&c[CHUNK_HEADER_SIZE..free]);
    patch_u32(&mut c, 52, data_crc);
    c.resize(CHUNK_SIZE, 0);
    let mut h = crc32fast::Hasher::new();
    h.update(&c[..120]);
    h.update(&c[128..CHUNK_HEADER_SIZE]);
    let header_crc = h.finalize();
    patch_u32(&mut c, 124, header_crc);
    c
}

/// A whole file: the header and one chunk per slice of records.
pub fn file(chunks: &[Vec<Record>]) -> Vec<u8> {
    let mut f = vec![0u8; FILE_HEADER_SIZE];
    f[..8].copy_from_slice(b"ElfFile\0");
    let last_chunk = chunks.len().saturating_sub(1) as u64;
    let next_id = chunks
        .iter()
        .flatten()
        .map(|r| r.id)
        .max()
        .map_or(1, |m| m + 1);
    f[8..16].copy_from_slice(&0u64.to_le_bytes());
    f[16..24].copy_from_slice(&last_chunk.to_le_bytes());
    f[24..32].copy_from_slice(&next_id.to_le_bytes());
    patch_u32(&mut f, 32, 128);
    f[36..38].copy_from_slice(&1u16.to_le_bytes());
    f[38..40].copy_from_slice(&3u16.to_le_bytes());
    f[40..42].copy_from_slice(&(FILE_HEADER_SIZE as u16).to_le_bytes());
    f[42..44].copy_from_slice(&(chunks.len() as u16).to_le_bytes());
    let crc = crc32fast::hash(&f[..120]);
    patch_u32(&mut f, 124, crc);
    for records in chunks {
        f.extend_from_slice(&chunk(records));
    }
    f
}

/// The `<Event>` element of a record: `System` with provider, ID, level, time, record ID and
/// channel, then `data` (an `EventData` or `UserData` element).
pub fn event(
    provider: &str,
    event_id: u32,
    level: u8,
    system_time: &str,
    record_id: u64,
    channel: &str,
    data: Node,
) -> Node {
    let id = event_id.to_string();
    let level = level.to_string();
    let rid = record_id.to_string();
    el(
        "Event",
        &[(
            "xmlns",
            "http://schemas.microsoft.com/win/2004/08/events/event",
        )],
        vec![
            el(
                "System",
                &[],
                vec![
                    el("Provider", &[("Name", provider)], vec![]),
                    text_el("EventID", &[], &id),
                    text_el("Level", &[], &level),
                    el("TimeCreated", &[("SystemTime", system_time)], vec![]),
                    text_el("EventRecordID", &[], &rid),
                    text_el("Channel", &[], channel),
                    text_el("Computer", &[], "NDES01.contoso.com"),
                ],
            ),
            data,
        ],
    )
}
