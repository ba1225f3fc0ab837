//! Rows into ClickHouse's Native format: one block of columns per INSERT.
//!
//! Why not RowBinary: a server parses RowBinary value by value, and on the 18.16 test server
//! that cost about 10.5 CPU-seconds per million `events` rows (one INSERT), against 2.7 for the
//! same rows in Native, which it reads column by column (`docs/clickhouse.md`, "Writing").
//! Why not the `clickhouse` crate's Native insert: it sends `LowCardinality(String)` columns as
//! `String`, which current servers convert and 18.16 refuses ("Bad cast from type
//! DB::ColumnString to DB::ColumnLowCardinality"). This encoder writes each column in its
//! table's type, which both accept.
//!
//! The row types stay the `#[derive(Row, Serialize)]` structs RowBinary used: a [`Block`] takes
//! their serde fields one by one, in the table's column order, into per-column buffers. The
//! column types come from the server (`system.columns`) as [`ColumnType`]s, so the block header
//! says exactly what the table has.
//!
//! The format (ClickHouse documentation, "Native" format, and the server's own output):
//! `varint(columns) varint(rows)`, then per column `string(name) string(type) data`, where
//! - fixed-width types (`UInt*`, `Int*`, `Float*`, `Enum8/16`, `Date`, `DateTime`) are their
//!   little-endian values;
//! - `String` is `varint(length) bytes` per value;
//! - `Nullable(T)` is one byte per row (1 = NULL) followed by `T`'s data, NULLs holding `T`'s
//!   default;
//! - `Array(T)` is the running end offset of each row (`UInt64`), then every element's `T` data;
//! - `LowCardinality(String)` is `UInt64 1` (keys with additional keys), `UInt64 flags` (index
//!   width 0–3 | 1 << 9 "has additional keys"), `UInt64 keys` and the keys as `String` data,
//!   then `UInt64 rows` and each row's key index in that width.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use foldhash::fast::RandomState;

use bytes::Bytes;
use serde::ser::{self, Serialize};

/// Why rows could not be encoded: a row type that does not match its table. Never caused by
/// the data itself (any value of a field fits its column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    /// A column type this encoder does not write.
    #[error("column {column}: type {ty} is not supported by the Native encoder")]
    Unsupported {
        /// The column.
        column: String,
        /// Its type as the server names it.
        ty: String,
    },
    /// A row's fields and the table's columns differ (count, names or a value's type).
    #[error("row does not match the table: {0}")]
    Mismatch(String),
}

impl ser::Error for NativeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NativeError::Mismatch(msg.to_string())
    }
}

/// A column's name and type, as the table has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    name: String,
    type_name: String,
    kind: Kind,
}

impl ColumnType {
    /// The column `name` of type `type_name` (as `system.columns` names it).
    pub fn new(name: &str, type_name: &str) -> Result<Self, NativeError> {
        let kind = Kind::parse(type_name).ok_or_else(|| NativeError::Unsupported {
            column: name.to_owned(),
            ty: type_name.to_owned(),
        })?;
        Ok(ColumnType {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            kind,
        })
    }
}

/// How a column's values are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Little-endian values of this many bytes.
    Fixed(usize),
    String,
    LowCardinalityString,
    Nullable(Box<Kind>),
    Array(Box<Kind>),
}

impl Kind {
    /// The kind of a column's type. `LowCardinality(String)` only as the whole type: nested in
    /// an `Array`, its serialization prefix would come before the array's offsets, which this
    /// encoder does not write (the schema has no such column).
    fn parse(t: &str) -> Option<Kind> {
        let t = t.trim();
        if let Some(inner) = wrapped(t, "LowCardinality") {
            return (inner.trim() == "String").then_some(Kind::LowCardinalityString);
        }
        Kind::parse_nested(t)
    }

    fn parse_nested(t: &str) -> Option<Kind> {
        let t = t.trim();
        if let Some(inner) = wrapped(t, "Nullable") {
            return Some(Kind::Nullable(Box::new(Kind::parse_nested(inner)?)));
        }
        if let Some(inner) = wrapped(t, "Array") {
            return Some(Kind::Array(Box::new(Kind::parse_nested(inner)?)));
        }
        let base = t.split('(').next().unwrap_or(t);
        let width = match base {
            "String" if t == "String" => return Some(Kind::String),
            "UInt8" | "Int8" | "Enum8" | "Bool" => 1,
            "UInt16" | "Int16" | "Enum16" | "Date" => 2,
            "UInt32" | "Int32" | "Float32" | "DateTime" => 4,
            "UInt64" | "Int64" | "Float64" => 8,
            _ => return None,
        };
        // Only Enum and DateTime take arguments.
        (base == t || matches!(base, "Enum8" | "Enum16" | "DateTime")).then_some(Kind::Fixed(width))
    }
}

/// `inner` of `name(inner)`.
fn wrapped<'a>(t: &'a str, name: &str) -> Option<&'a str> {
    t.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

/// One column's values so far.
enum Column {
    Fixed {
        width: usize,
        data: Vec<u8>,
    },
    String {
        data: Vec<u8>,
    },
    LowCardinality {
        /// Each key's index and where its bytes start in `key_data`.
        keys: HashMap<Box<[u8]>, (u32, usize), RandomState>,
        key_data: Vec<u8>,
        indexes: Vec<u32>,
        /// The last value's index, where its bytes start and its length; the index of `""`.
        /// Most rows repeat the row before (one collector's batch, one host) or leave the
        /// column empty (another payload kind's), and neither then costs a hash.
        last: Option<(u32, usize, usize)>,
        empty: Option<u32>,
    },
    Nullable {
        nulls: Vec<u8>,
        inner: Box<Column>,
    },
    Array {
        ends: Vec<u64>,
        inner: Box<Column>,
    },
}

impl Column {
    fn new(kind: &Kind) -> Column {
        match kind {
            Kind::Fixed(width) => Column::Fixed {
                width: *width,
                data: Vec::new(),
            },
            Kind::String => Column::String { data: Vec::new() },
            Kind::LowCardinalityString => Column::LowCardinality {
                keys: HashMap::default(),
                key_data: Vec::new(),
                indexes: Vec::new(),
                last: None,
                empty: None,
            },
            Kind::Nullable(inner) => Column::Nullable {
                nulls: Vec::new(),
                inner: Box::new(Column::new(inner)),
            },
            Kind::Array(inner) => Column::Array {
                ends: Vec::new(),
                inner: Box::new(Column::new(inner)),
            },
        }
    }

    fn fixed(&mut self, bytes: &[u8]) -> Result<(), NativeError> {
        match self {
            Column::Fixed { width, data } if *width == bytes.len() => {
                data.extend_from_slice(bytes);
                Ok(())
            }
            Column::Nullable { nulls, inner } => {
                inner.fixed(bytes)?;
                nulls.push(0);
                Ok(())
            }
            _ => Err(self.mismatch(&format!("a {}-byte number", bytes.len()))),
        }
    }

    fn bytes(&mut self, v: &[u8]) -> Result<(), NativeError> {
        match self {
            Column::String { data } => {
                put_bytes(data, v);
                Ok(())
            }
            Column::LowCardinality {
                keys,
                key_data,
                indexes,
                last,
                empty,
            } => {
                let cached = if v.is_empty() {
                    *empty
                } else {
                    last.filter(|&(_, at, len)| {
                        len == v.len() && key_data.get(at..at + len) == Some(v)
                    })
                    .map(|(i, _, _)| i)
                };
                let index = match cached {
                    Some(i) => i,
                    None => {
                        let (i, at) = match keys.get(v) {
                            Some(&found) => found,
                            None => {
                                let i = u32::try_from(keys.len()).map_err(|_| {
                                    NativeError::Mismatch("more than 2^32 distinct values".into())
                                })?;
                                put_varint(key_data, v.len() as u64);
                                let at = key_data.len();
                                key_data.extend_from_slice(v);
                                keys.insert(v.into(), (i, at));
                                (i, at)
                            }
                        };
                        if v.is_empty() {
                            *empty = Some(i);
                        } else {
                            *last = Some((i, at, v.len()));
                        }
                        i
                    }
                };
                indexes.push(index);
                Ok(())
            }
            Column::Nullable { nulls, inner } => {
                inner.bytes(v)?;
                nulls.push(0);
                Ok(())
            }
            _ => Err(self.mismatch("a string")),
        }
    }

    fn null(&mut self) -> Result<(), NativeError> {
        match self {
            Column::Nullable { nulls, inner } => {
                inner.default_value()?;
                nulls.push(1);
                Ok(())
            }
            _ => Err(self.mismatch("NULL")),
        }
    }

    /// The type's default, under a NULL.
    fn default_value(&mut self) -> Result<(), NativeError> {
        match self {
            Column::Fixed { width, data } => data.resize(data.len() + *width, 0),
            Column::String { data } => data.push(0),
            Column::LowCardinality { .. } => self.bytes(b"")?,
            Column::Nullable { nulls, inner } => {
                inner.default_value()?;
                nulls.push(1);
            }
            Column::Array { ends, .. } => ends.push(ends.last().copied().unwrap_or(0)),
        }
        Ok(())
    }

    fn mismatch(&self, what: &str) -> NativeError {
        let ty = match self {
            Column::Fixed { width, .. } => format!("a {width}-byte number column"),
            Column::String { .. } => "a String column".into(),
            Column::LowCardinality { .. } => "a LowCardinality(String) column".into(),
            Column::Nullable { .. } => "a Nullable column".into(),
            Column::Array { .. } => "an Array column".into(),
        };
        NativeError::Mismatch(format!("{what} for {ty}"))
    }

    fn clear(&mut self) {
        match self {
            Column::Fixed { data, .. } | Column::String { data } => data.clear(),
            Column::LowCardinality {
                keys,
                key_data,
                indexes,
                last,
                empty,
            } => {
                keys.clear();
                key_data.clear();
                indexes.clear();
                *last = None;
                *empty = None;
            }
            Column::Nullable { nulls, inner } => {
                nulls.clear();
                inner.clear();
            }
            Column::Array { ends, inner } => {
                ends.clear();
                inner.clear();
            }
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Column::Fixed { data, .. } | Column::String { data } => out.extend_from_slice(data),
            Column::LowCardinality {
                keys,
                key_data,
                indexes,
                ..
            } => {
                let (width_code, width) = match keys.len() {
                    0..=0x100 => (0u64, 1),
                    0x101..=0x1_0000 => (1, 2),
                    _ => (2, 4),
                };
                out.extend_from_slice(&1u64.to_le_bytes());
                out.extend_from_slice(&(width_code | 1 << 9).to_le_bytes());
                out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
                out.extend_from_slice(key_data);
                out.extend_from_slice(&(indexes.len() as u64).to_le_bytes());
                out.reserve(indexes.len() * width);
                for i in indexes {
                    out.extend_from_slice(&i.to_le_bytes()[..width]);
                }
            }
            Column::Nullable { nulls, inner } => {
                out.extend_from_slice(nulls);
                inner.write(out);
            }
            Column::Array { ends, inner } => {
                for e in ends {
                    out.extend_from_slice(&e.to_le_bytes());
                }
                inner.write(out);
            }
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A `String` value: its length, then its bytes.
fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

/// Rows per Native block: an INSERT of more sends several, the server reading one while the
/// next is encoded (it still writes them as one part).
pub const BLOCK_ROWS: usize = 8192;

/// Rows of one table encoded into Native blocks as they come, [`BLOCK_ROWS`] a block: until
/// their INSERT, rows take their encoded size (about 1 KB for `events`) instead of their
/// struct's (3.5 KB for [`super::rows::EventRow`]), and the flush only sends bytes
/// ([`super::Writer::insert_encoded_with_retry`]).
pub struct Encoder {
    block: Block,
    blocks: Vec<Bytes>,
    rows: usize,
    /// Buffers of blocks already stored, for the next blocks ([`Encoder::recycle`]).
    spare: Vec<Vec<u8>>,
}

/// What an [`Encoder`] made: blocks to send as one INSERT.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    /// The blocks, in order.
    pub blocks: Vec<Bytes>,
    /// Rows in all of them.
    pub rows: usize,
}

impl Encoded {
    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Drops the blocks (once stored).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.rows = 0;
    }
}

impl Encoder {
    /// An encoder of rows whose fields are the columns `types` (as [`Block::new`]).
    pub fn new(types: impl Into<Arc<[ColumnType]>>) -> Self {
        Encoder {
            block: Block::new(types),
            blocks: Vec::new(),
            rows: 0,
            spare: Vec::new(),
        }
    }

    /// Takes back the blocks of an earlier [`Encoder::take`] once they are stored, to encode
    /// the next blocks into their memory: a block's buffer is megabytes, and a fresh one costs
    /// the kernel's zeroing of every page of it (an eighth of the loop's time in the analyzer
    /// service, BENCHMARKS.md). Only the last stored flush's buffers are kept (those of the
    /// flush before are dropped, used or not), and only those at least half full: once the
    /// load drops, so does what is held. Blocks still shared (a send that holds a slice of
    /// one) are dropped.
    pub fn recycle(&mut self, stored: Vec<Bytes>) {
        self.spare.clear();
        for b in stored {
            if let Ok(m) = b.try_into_mut() {
                let v = Vec::from(m);
                if v.len() >= v.capacity() / 2 {
                    self.spare.push(v);
                }
            }
        }
    }

    /// Adds a row. A row that does not fit the columns is refused; the encoder then holds part
    /// of it and must be dropped (as a [`Block`] after [`Block::push`] fails).
    pub fn push<T: Serialize>(&mut self, row: &T) -> Result<(), NativeError> {
        self.block.push(row)?;
        self.rows += 1;
        if self.block.rows() >= BLOCK_ROWS {
            self.seal();
        }
        Ok(())
    }

    /// Rows added since the last [`Encoder::take`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Drops every row added since the last [`Encoder::take`] (after a refused row, whose part
    /// the block holds), keeping the buffers.
    pub fn clear(&mut self) {
        self.block.clear();
        self.blocks.clear();
        self.rows = 0;
    }

    /// The rows added since the last call, as blocks; the encoder is empty afterwards (its
    /// buffers kept for the next rows).
    pub fn take(&mut self) -> Encoded {
        self.seal();
        let rows = std::mem::take(&mut self.rows);
        Encoded {
            blocks: std::mem::take(&mut self.blocks),
            rows,
        }
    }

    fn seal(&mut self) {
        if self.block.rows() > 0 {
            let mut out = self.spare.pop().unwrap_or_default();
            self.block.encode_into(&mut out);
            self.blocks.push(Bytes::from(out));
            self.block.clear();
        }
    }
}

/// Rows of one table, column by column, to be sent as one Native block.
pub struct Block {
    types: Arc<[ColumnType]>,
    columns: Vec<Column>,
    rows: usize,
}

impl Block {
    /// An empty block of the columns `types`, in the order the rows' fields come.
    pub fn new(types: impl Into<Arc<[ColumnType]>>) -> Self {
        let types: Arc<[ColumnType]> = types.into();
        Block {
            columns: types.iter().map(|t| Column::new(&t.kind)).collect(),
            types,
            rows: 0,
        }
    }

    /// Rows added.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Empties the block, keeping its buffers: the next rows of the same types reuse the
    /// memory the last ones grew (fresh buffers for every block cost page faults).
    pub fn clear(&mut self) {
        for c in &mut self.columns {
            c.clear();
        }
        self.rows = 0;
    }

    /// Adds a row: a struct whose fields are the columns, by name and in order. The rows of a
    /// block are of one type: the first one's field names are checked against the columns, the
    /// others' are not (a name check per field cost the flush a sixth of its time). After an
    /// error the block is left with part of the row and must be dropped.
    pub fn push<T: Serialize>(&mut self, row: &T) -> Result<(), NativeError> {
        let check_names = self.rows == 0;
        row.serialize(RowSerializer {
            block: self,
            check_names,
        })?;
        self.rows += 1;
        Ok(())
    }

    /// The block in Native format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_size_hint());
        self.write(&mut out);
        out
    }

    /// The block in Native format, in `out` (emptied first, its memory reused).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        let size = self.encoded_size_hint();
        if out.capacity() < size {
            // A fresh buffer rather than a grown one (growing copies what it held), with room
            // for the next blocks, which are seldom exactly as large.
            *out = Vec::with_capacity(size + size / 8);
        }
        self.write(out);
    }

    /// Appends the block in Native format to `out`.
    fn write(&self, out: &mut Vec<u8>) {
        put_varint(out, self.columns.len() as u64);
        put_varint(out, self.rows as u64);
        for (t, c) in self.types.iter().zip(&self.columns) {
            put_bytes(out, t.name.as_bytes());
            put_bytes(out, t.type_name.as_bytes());
            c.write(out);
        }
    }

    fn encoded_size_hint(&self) -> usize {
        fn size(c: &Column) -> usize {
            match c {
                Column::Fixed { data, .. } | Column::String { data } => data.len(),
                Column::LowCardinality {
                    key_data, indexes, ..
                } => 40 + key_data.len() + indexes.len() * 4,
                Column::Nullable { nulls, inner } => nulls.len() + size(inner),
                Column::Array { ends, inner } => ends.len() * 8 + size(inner),
            }
        }
        self.columns.iter().map(size).sum::<usize>() + self.types.len() * 64 + 16
    }
}

macro_rules! not_a_row {
    ($($f:ident($t:ty)),*) => {$(
        fn $f(self, _: $t) -> Result<(), NativeError> {
            Err(not_a_struct())
        }
    )*};
}

/// Takes one row: a struct, field by field.
struct RowSerializer<'b> {
    block: &'b mut Block,
    check_names: bool,
}

struct RowFields<'b> {
    block: &'b mut Block,
    next: usize,
    check_names: bool,
}

impl<'b> ser::Serializer for RowSerializer<'b> {
    type Ok = ();
    type Error = NativeError;
    type SerializeSeq = ser::Impossible<(), NativeError>;
    type SerializeTuple = ser::Impossible<(), NativeError>;
    type SerializeTupleStruct = ser::Impossible<(), NativeError>;
    type SerializeTupleVariant = ser::Impossible<(), NativeError>;
    type SerializeMap = ser::Impossible<(), NativeError>;
    type SerializeStruct = RowFields<'b>;
    type SerializeStructVariant = ser::Impossible<(), NativeError>;

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<RowFields<'b>, NativeError> {
        if len != self.block.columns.len() {
            return Err(NativeError::Mismatch(format!(
                "the row has {len} fields, the table {} columns",
                self.block.columns.len()
            )));
        }
        Ok(RowFields {
            block: self.block,
            next: 0,
            check_names: self.check_names,
        })
    }

    not_a_row!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8])
    );

    fn serialize_none(self) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_unit(self) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NativeError> {
        Err(not_a_struct())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NativeError> {
        Err(not_a_struct())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NativeError> {
        Err(not_a_struct())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NativeError> {
        Err(not_a_struct())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NativeError> {
        Err(not_a_struct())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NativeError> {
        Err(not_a_struct())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NativeError> {
        Err(not_a_struct())
    }
}

fn not_a_struct() -> NativeError {
    NativeError::Mismatch("a row must be a struct".into())
}

impl ser::SerializeStruct for RowFields<'_> {
    type Ok = ();
    type Error = NativeError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NativeError> {
        let i = self.next;
        let (Some(t), Some(column)) = (self.block.types.get(i), self.block.columns.get_mut(i))
        else {
            return Err(NativeError::Mismatch(format!("field {key} has no column")));
        };
        if self.check_names && t.name != key {
            return Err(NativeError::Mismatch(format!(
                "field {i} is {key}, column {i} is {}",
                t.name
            )));
        }
        value
            .serialize(ValueSerializer { column })
            .map_err(|e| match e {
                NativeError::Mismatch(m) => NativeError::Mismatch(format!("column {key}: {m}")),
                other => other,
            })?;
        self.next += 1;
        Ok(())
    }

    fn end(self) -> Result<(), NativeError> {
        Ok(())
    }
}

/// Takes one value into its column.
struct ValueSerializer<'c> {
    column: &'c mut Column,
}

/// Takes the elements of one array value.
struct ArrayElements<'c> {
    ends: &'c mut Vec<u64>,
    inner: &'c mut Column,
    count: u64,
}

impl ser::SerializeSeq for ArrayElements<'_> {
    type Ok = ();
    type Error = NativeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), NativeError> {
        value.serialize(ValueSerializer { column: self.inner })?;
        self.count += 1;
        Ok(())
    }

    fn end(self) -> Result<(), NativeError> {
        let last = self.ends.last().copied().unwrap_or(0);
        self.ends.push(last + self.count);
        Ok(())
    }
}

macro_rules! fixed {
    ($($f:ident($t:ty)),*) => {$(
        fn $f(self, v: $t) -> Result<(), NativeError> {
            self.column.fixed(&v.to_le_bytes())
        }
    )*};
}

impl<'c> ser::Serializer for ValueSerializer<'c> {
    type Ok = ();
    type Error = NativeError;
    type SerializeSeq = ArrayElements<'c>;
    type SerializeTuple = ser::Impossible<(), NativeError>;
    type SerializeTupleStruct = ser::Impossible<(), NativeError>;
    type SerializeTupleVariant = ser::Impossible<(), NativeError>;
    type SerializeMap = ser::Impossible<(), NativeError>;
    type SerializeStruct = ser::Impossible<(), NativeError>;
    type SerializeStructVariant = ser::Impossible<(), NativeError>;

    fixed!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64)
    );

    fn serialize_bool(self, v: bool) -> Result<(), NativeError> {
        self.column.fixed(&[u8::from(v)])
    }

    fn serialize_char(self, v: char) -> Result<(), NativeError> {
        self.column.bytes(v.encode_utf8(&mut [0; 4]).as_bytes())
    }

    fn serialize_str(self, v: &str) -> Result<(), NativeError> {
        self.column.bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), NativeError> {
        self.column.bytes(v)
    }

    fn serialize_none(self) -> Result<(), NativeError> {
        self.column.null()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), NativeError> {
        // A Nullable column takes the value with its flag (`fixed`, `bytes`); `Option` in any
        // other column is refused by `null` only when it is None, so check here.
        match self.column {
            Column::Nullable { .. } => value.serialize(self),
            other => Err(other.mismatch("an optional value")),
        }
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<ArrayElements<'c>, NativeError> {
        match self.column {
            Column::Array { ends, inner } => Ok(ArrayElements {
                ends,
                inner,
                count: 0,
            }),
            other => Err(other.mismatch("a sequence")),
        }
    }

    fn serialize_unit(self) -> Result<(), NativeError> {
        Err(self.column.mismatch("()"))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), NativeError> {
        Err(self.column.mismatch(name))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NativeError> {
        Err(self.column.mismatch(variant))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NativeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<(), NativeError> {
        Err(self.column.mismatch(variant))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NativeError> {
        Err(self.column.mismatch("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NativeError> {
        Err(self.column.mismatch(name))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NativeError> {
        Err(self.column.mismatch(variant))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NativeError> {
        Err(self.column.mismatch("a map"))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NativeError> {
        Err(self.column.mismatch(name))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NativeError> {
        Err(self.column.mismatch(variant))
    }
}

#[cfg(test)]
mod tests;
