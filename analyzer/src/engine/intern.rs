//! String interning: hosts, endpoints, paths and client addresses are stored once and referred
//! to by a small integer, so per-event state holds no `String`s.
//!
//! Symbol numbers depend on arrival order; nothing the engine emits may be ordered by them (it
//! orders by the names).

use std::collections::HashMap;

/// An interned string.
pub(crate) type Sym = u32;

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
