use serde::Serialize;

use super::*;

/// The columns of the block the 18.16 test server was first sent by hand (and answered with
/// the three rows), one of each kind the schema uses.
fn probe_types() -> Vec<ColumnType> {
    [
        ("a", "LowCardinality(String)"),
        ("b", "Nullable(DateTime('UTC'))"),
        ("c", "Array(String)"),
        ("d", "Enum8('x' = 0, 'y' = 1)"),
        ("e", "String"),
    ]
    .iter()
    .map(|(n, t)| ColumnType::new(n, t).unwrap())
    .collect()
}

#[derive(Serialize)]
struct Probe {
    a: String,
    b: Option<u32>,
    c: Vec<String>,
    d: i8,
    e: String,
}

fn probes() -> Vec<Probe> {
    vec![
        Probe {
            a: "foo".into(),
            b: Some(1_790_000_000),
            c: vec!["p".into(), "q".into()],
            d: 0,
            e: "1".into(),
        },
        Probe {
            a: "bar".into(),
            b: None,
            c: vec![],
            d: 1,
            e: "2".into(),
        },
        Probe {
            a: "foo".into(),
            b: Some(1_790_000_001),
            c: vec!["r".into()],
            d: 1,
            e: "3".into(),
        },
    ]
}

fn string(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

#[test]
fn a_block_is_laid_out_column_by_column() {
    let types = probe_types();
    let mut block = Block::new(&types[..]);
    for p in probes() {
        block.push(&p).unwrap();
    }
    assert_eq!(block.rows(), 3);

    let mut want = vec![5u8, 3];
    // LowCardinality(String): keys with additional keys, UInt8 indexes, keys "foo" "bar".
    want.extend(string("a"));
    want.extend(string("LowCardinality(String)"));
    want.extend(1u64.to_le_bytes());
    want.extend((1u64 << 9).to_le_bytes());
    want.extend(2u64.to_le_bytes());
    want.extend(string("foo"));
    want.extend(string("bar"));
    want.extend(3u64.to_le_bytes());
    want.extend([0, 1, 0]);
    // Nullable(DateTime): the NULL map, then every row's value (0 under the NULL).
    want.extend(string("b"));
    want.extend(string("Nullable(DateTime('UTC'))"));
    want.extend([0, 1, 0]);
    want.extend(1_790_000_000u32.to_le_bytes());
    want.extend(0u32.to_le_bytes());
    want.extend(1_790_000_001u32.to_le_bytes());
    // Array(String): running end offsets, then the elements.
    want.extend(string("c"));
    want.extend(string("Array(String)"));
    for end in [2u64, 2, 3] {
        want.extend(end.to_le_bytes());
    }
    want.extend(string("p"));
    want.extend(string("q"));
    want.extend(string("r"));
    want.extend(string("d"));
    want.extend(string("Enum8('x' = 0, 'y' = 1)"));
    want.extend([0, 1, 1]);
    want.extend(string("e"));
    want.extend(string("String"));
    for e in ["1", "2", "3"] {
        want.extend(string(e));
    }
    assert_eq!(block.encode(), want);
}

#[test]
fn index_width_follows_the_number_of_keys() {
    #[derive(Serialize)]
    struct One {
        k: String,
    }
    let types = [ColumnType::new("k", "LowCardinality(String)").unwrap()];
    for (keys, code, width, rows_varint) in [
        (256usize, 0u64, 1usize, 2usize),
        (257, 1, 2, 2),
        (70_000, 2, 4, 3),
    ] {
        let mut block = Block::new(&types[..]);
        for i in 0..keys {
            block.push(&One { k: i.to_string() }).unwrap();
        }
        let out = block.encode();
        // The column and row counts, "k", "LowCardinality(String)", the version, the flags.
        let flags_at = 1 + rows_varint + 2 + 23 + 8;
        let flags = u64::from_le_bytes(out[flags_at..flags_at + 8].try_into().unwrap());
        assert_eq!(flags, code | 1 << 9, "{keys} keys");
        let key_bytes: usize = (0..keys).map(|i| 1 + i.to_string().len()).sum();
        assert_eq!(out.len(), flags_at + 8 + 8 + key_bytes + 8 + keys * width);
    }
}

#[test]
fn repeated_empty_and_prefix_values_keep_their_own_keys() {
    #[derive(Serialize)]
    struct One {
        k: String,
    }
    let types = [ColumnType::new("k", "LowCardinality(String)").unwrap()];
    let mut block = Block::new(&types[..]);
    let values = [
        "abcdef", "abcdef", "abc", "", "abc", "", "abcdef", "ab", "abc",
    ];
    for v in values {
        block.push(&One { k: v.into() }).unwrap();
    }
    let out = block.encode();
    // After the header (1 + 1 + 2 + 23 bytes), the version and flags: the keys in order of
    // first use, then one index byte per row.
    let at = 1 + 1 + 2 + 23 + 8 + 8;
    assert_eq!(u64::from_le_bytes(out[at..at + 8].try_into().unwrap()), 4);
    let keys = b"\x06abcdef\x03abc\x00\x02ab";
    assert_eq!(&out[at + 8..at + 8 + keys.len()], keys);
    let rows_at = at + 8 + keys.len();
    assert_eq!(
        u64::from_le_bytes(out[rows_at..rows_at + 8].try_into().unwrap()),
        values.len() as u64
    );
    assert_eq!(&out[rows_at + 8..], &[0, 0, 1, 2, 1, 2, 0, 3, 1]);
}

#[test]
fn long_strings_take_a_multi_byte_length() {
    #[derive(Serialize)]
    struct One {
        s: String,
        b: u64,
    }
    let types = [
        ColumnType::new("s", "String").unwrap(),
        ColumnType::new("b", "UInt64").unwrap(),
    ];
    let mut block = Block::new(&types[..]);
    block
        .push(&One {
            s: "x".repeat(300),
            b: u64::MAX - 1,
        })
        .unwrap();
    let out = block.encode();
    let s_at = 2 + 2 + 7;
    assert_eq!(&out[s_at..s_at + 2], &[0xac, 0x02]); // 300
    assert_eq!(&out[out.len() - 8..], &(u64::MAX - 1).to_le_bytes());
}

#[test]
fn the_schema_types_parse() {
    for (t, kind) in [
        ("UInt8", Kind::Fixed(1)),
        ("Int32", Kind::Fixed(4)),
        ("UInt16", Kind::Fixed(2)),
        ("Float64", Kind::Fixed(8)),
        ("DateTime('UTC')", Kind::Fixed(4)),
        ("DateTime", Kind::Fixed(4)),
        ("Enum8('a(b)' = 0, 'c' = 1)", Kind::Fixed(1)),
        ("String", Kind::String),
        ("LowCardinality(String)", Kind::LowCardinalityString),
        ("Nullable(String)", Kind::Nullable(Box::new(Kind::String))),
        (
            "Array(DateTime('UTC'))",
            Kind::Array(Box::new(Kind::Fixed(4))),
        ),
        (
            "Array(Enum8('info' = 1, 'warning' = 2))",
            Kind::Array(Box::new(Kind::Fixed(1))),
        ),
    ] {
        assert_eq!(Kind::parse(t), Some(kind), "{t}");
    }
    for t in [
        "AggregateFunction(max, UInt32)",
        "LowCardinality(Nullable(String))",
        "Array(LowCardinality(String))",
        "Nullable(LowCardinality(String))",
        "FixedString(16)",
        "UInt32(3)",
        "Decimal(9, 2)",
        "Tuple(String, UInt8)",
        "Stringly",
    ] {
        assert_eq!(Kind::parse(t), None, "{t}");
        assert!(matches!(
            ColumnType::new("x", t),
            Err(NativeError::Unsupported { .. })
        ));
    }
}

#[test]
fn rows_that_do_not_fit_the_columns_are_refused() {
    let types = probe_types();
    #[derive(Serialize)]
    struct Short {
        a: String,
    }
    let mut block = Block::new(&types[..]);
    let e = block.push(&Short { a: "x".into() }).unwrap_err();
    assert!(
        e.to_string().contains("1 fields, the table 5 columns"),
        "{e}"
    );

    #[derive(Serialize)]
    struct Renamed {
        a: String,
        b: Option<u32>,
        c: Vec<String>,
        z: i8,
        e: String,
    }
    let mut block = Block::new(&types[..]);
    let e = block
        .push(&Renamed {
            a: "x".into(),
            b: None,
            c: vec![],
            z: 0,
            e: String::new(),
        })
        .unwrap_err();
    assert!(e.to_string().contains("field 3 is z, column 3 is d"), "{e}");

    #[derive(Serialize)]
    struct Wide {
        a: String,
        b: Option<u64>,
        c: Vec<String>,
        d: i8,
        e: String,
    }
    let mut block = Block::new(&types[..]);
    let e = block
        .push(&Wide {
            a: "x".into(),
            b: Some(1),
            c: vec![],
            d: 0,
            e: String::new(),
        })
        .unwrap_err();
    assert!(e.to_string().contains("column b: a 8-byte number"), "{e}");

    #[derive(Serialize)]
    struct NotNullable {
        a: Option<String>,
        b: Option<u32>,
        c: Vec<String>,
        d: i8,
        e: String,
    }
    let mut block = Block::new(&types[..]);
    let e = block
        .push(&NotNullable {
            a: None,
            b: None,
            c: vec![],
            d: 0,
            e: String::new(),
        })
        .unwrap_err();
    assert!(e.to_string().contains("column a: NULL"), "{e}");
}

#[test]
fn bytes_that_are_not_utf8_are_kept_as_they_are() {
    #[derive(Serialize)]
    struct Raw {
        #[serde(serialize_with = "as_bytes")]
        k: Vec<u8>,
        #[serde(serialize_with = "as_bytes")]
        s: Vec<u8>,
    }
    fn as_bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    let types = [
        ColumnType::new("k", "LowCardinality(String)").unwrap(),
        ColumnType::new("s", "String").unwrap(),
    ];
    let mut block = Block::new(&types[..]);
    // Two invalid sequences that a lossy conversion would both turn into U+FFFD.
    for b in [[0xffu8], [0xfe]] {
        block
            .push(&Raw {
                k: b.to_vec(),
                s: b.to_vec(),
            })
            .unwrap();
    }
    let out = block.encode();
    let keys_at = 2 + 2 + 23 + 8 + 8;
    assert_eq!(&out[keys_at..keys_at + 8], &2u64.to_le_bytes());
    assert_eq!(&out[keys_at + 8..keys_at + 12], &[1, 0xff, 1, 0xfe]);
    assert_eq!(&out[out.len() - 4..], &[1, 0xff, 1, 0xfe]);
}

#[test]
fn stored_blocks_lend_their_memory_to_the_next_ones() {
    // Blocks of BLOCK_ROWS rows, then a small one: three whole blocks and a partial one.
    let mut enc = Encoder::new(probe_types());
    let rows = probes();
    for i in 0..3 * BLOCK_ROWS + 10 {
        enc.push(&rows[i % rows.len()]).unwrap();
    }
    let first = enc.take();
    assert_eq!(first.rows, 3 * BLOCK_ROWS + 10);
    assert_eq!(first.blocks.len(), 4);
    let whole: Vec<Vec<u8>> = first.blocks[..3].iter().map(|b| b.to_vec()).collect();
    let addresses: Vec<usize> = first.blocks[..3]
        .iter()
        .map(|b| b.as_ptr() as usize)
        .collect();

    // A block still shared (a send holding a slice of it) is not taken back; the partial one
    // is too empty to be worth keeping.
    let held = first.blocks[2].slice(0..10);
    enc.recycle(first.blocks);
    for i in 0..2 * BLOCK_ROWS {
        enc.push(&rows[i % rows.len()]).unwrap();
    }
    let second = enc.take();
    assert_eq!(second.blocks.len(), 2);
    let mut reused: Vec<usize> = second.blocks.iter().map(|b| b.as_ptr() as usize).collect();
    reused.sort_unstable();
    let mut unshared = addresses[..2].to_vec();
    unshared.sort_unstable();
    // Encoded into the memory of the two stored blocks nothing holds any more, with the bytes
    // of the first encoding (the same rows in the same places).
    assert_eq!(reused, unshared);
    for (b, w) in second.blocks.iter().zip(&whole) {
        assert_eq!(&b[..], &w[..]);
    }
    assert_eq!(&held[..], &whole[2][..10]);

    // A small flush uses one of the spares; the next stored flush replaces the rest, and a
    // large buffer that held a small block is not kept (the load dropped).
    enc.recycle(second.blocks);
    assert_eq!(enc.spare.len(), 2);
    for r in &rows {
        enc.push(r).unwrap();
    }
    let third = enc.take();
    assert_eq!(third.blocks.len(), 1);
    assert_eq!(enc.spare.len(), 1);
    let mut fresh = Block::new(probe_types());
    for r in &rows {
        fresh.push(r).unwrap();
    }
    assert_eq!(third.blocks[0].to_vec(), fresh.encode());
    enc.recycle(third.blocks);
    assert!(enc.spare.is_empty());
}

mod prop {
    use proptest::prelude::*;
    use serde::Serialize;

    use super::super::*;

    #[derive(Debug, Serialize)]
    struct Any {
        lc: String,
        s: String,
        n: Option<u32>,
        arr: Vec<String>,
        e: i8,
        v: u64,
    }

    fn types() -> Vec<ColumnType> {
        [
            ("lc", "LowCardinality(String)"),
            ("s", "String"),
            ("n", "Nullable(DateTime('UTC'))"),
            ("arr", "Array(String)"),
            ("e", "Enum8('a' = 0)"),
            ("v", "UInt64"),
        ]
        .iter()
        .map(|(n, t)| ColumnType::new(n, t).unwrap())
        .collect()
    }

    proptest! {
        /// Any rows encode, and the block is as long as its parts say: one reading of the
        /// stream ends exactly at its end.
        #[test]
        fn any_rows_encode_to_a_block_of_the_parts_lengths(
            rows in prop::collection::vec(
                (".{0,12}", ".{0,40}", any::<Option<u32>>(),
                 prop::collection::vec("[a-c]{0,3}", 0..4), any::<i8>(), any::<u64>()),
                1..60,
            )
        ) {
            let types = types();
            let mut block = Block::new(&types[..]);
            for (lc, s, n, arr, e, v) in &rows {
                block.push(&Any { lc: lc.clone(), s: s.clone(), n: *n, arr: arr.clone(), e: *e, v: *v }).unwrap();
            }
            let out = block.encode();
            prop_assert_eq!(skim(&out), Some((6, rows.len())));
        }
    }

    /// Reads a block of the test's columns back as far as needed to find its end: `(columns,
    /// rows)` when the stream ends exactly after the last column.
    fn skim(b: &[u8]) -> Option<(usize, usize)> {
        let mut at = 0;
        let varint = |at: &mut usize| -> Option<u64> {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let byte = *b.get(*at)?;
                *at += 1;
                v |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return Some(v);
                }
            }
            None
        };
        let u64_at = |at: &mut usize| -> Option<u64> {
            let v = u64::from_le_bytes(b.get(*at..*at + 8)?.try_into().ok()?);
            *at += 8;
            Some(v)
        };
        let strings = |at: &mut usize, n: u64| -> Option<()> {
            for _ in 0..n {
                let len = varint(at)? as usize;
                *at += len;
            }
            Some(())
        };
        let lc = |at: &mut usize| -> Option<u64> {
            (u64_at(at)? == 1).then_some(())?;
            let flags = u64_at(at)?;
            let keys = u64_at(at)?;
            strings(at, keys)?;
            let n = u64_at(at)?;
            *at += n as usize * [1, 2, 4, 8][(flags & 3) as usize];
            Some(n)
        };
        let columns = varint(&mut at)?;
        let rows = varint(&mut at)?;
        for c in 0..columns {
            strings(&mut at, 2)?;
            match c {
                0 => (lc(&mut at)? == rows).then_some(())?,
                1 => strings(&mut at, rows)?,
                2 => at += rows as usize * 5,
                3 => {
                    let mut end = 0;
                    for _ in 0..rows {
                        end = u64_at(&mut at)?;
                    }
                    strings(&mut at, end)?;
                }
                4 => at += rows as usize,
                _ => at += rows as usize * 8,
            }
        }
        (at == b.len()).then_some((columns as usize, rows as usize))
    }
}
