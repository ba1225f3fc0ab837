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

/// A string table.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: HashMap<Box<str>, Sym>,
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
}
