//! String interning: hosts, endpoints, paths and client addresses are stored once and referred
//! to by a small integer, so per-event state holds no `String`s.
//!
//! Symbol numbers depend on arrival order; nothing the engine emits may be ordered by them (it
//! orders by the names).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// An interned string.
pub(crate) type Sym = u32;

/// Hasher for maps keyed by symbols. Symbols are small integers the engine hands out in order,
/// never chosen by input, so a multiplicative hash is enough (and much cheaper than SipHash on the
/// per-request path).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SymHasher(u64);

impl Hasher for SymHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by symbols.
pub(crate) type SymMap<V> = HashMap<Sym, V, BuildHasherDefault<SymHasher>>;

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Hasher for short strings and integers on the per-event path (names, client addresses,
/// transactionIDs): eight bytes per multiply, much cheaper than SipHash. Not resistant to
/// chosen collisions; the maps it serves are bounded (interned names, one run's index) and a
/// collision only costs time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StrHasher(u64);

impl StrHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(K);
    }
}

impl Hasher for StrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weakest; the table indexes with them.
        self.0.rotate_left(26)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A hash map with [`StrHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<StrHasher>>;

/// A string table.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: FastMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
    bytes: usize,
}

impl Interner {
    /// The symbol of `s`, adding it when new.
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        self.names.push(s.into());
        self.map.insert(s.into(), i);
        self.bytes += 2 * s.len() + 64;
        i
    }

    /// The string of `sym` (empty for an unknown symbol).
    pub(crate) fn name(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map(|b| &**b).unwrap_or("")
    }

    /// Rough heap size.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let mut i = Interner::default();
        let a = i.intern("ndes01");
        assert_eq!(i.intern("ndes01"), a);
        assert_ne!(i.intern("ndes02"), a);
        assert_eq!(i.name(a), "ndes01");
        assert_eq!(i.name(999), "");
    }

    #[test]
    fn str_hasher_tells_short_strings_apart() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<StrHasher>::default();
        let names = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "10.0.0.1",
            "10.0.0.10",
            "12345678",
            "123456789",
        ];
        let hashes: std::collections::HashSet<u64> = names.iter().map(|n| b.hash_one(n)).collect();
        assert_eq!(hashes.len(), names.len());
    }
}
