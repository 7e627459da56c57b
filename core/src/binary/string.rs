//! [`Str`]: the string type of a decoded node (tags, keys, values, string content).
//!
//! Decoding a stanza produces a dozen strings, almost all of them dictionary tokens or short
//! ids, numbers and names. `Str` stores each without touching the heap when it can:
//!
//! | form | holds | made by |
//! |---|---|---|
//! | static | a borrowed `&'static str` | tokens, [`Str::from_static`], `From<&'static str>` |
//! | inline | up to [`Str::INLINE_CAP`] bytes in the value itself | short decoded strings, short `String`s |
//! | shared | a reference-counted `Arc<str>` | longer strings (the last resort) |
//!
//! A `Str` is 24 bytes and cloning it never allocates (a long string bumps a reference count).
//! Equality, ordering and hashing are those of the `str` it holds, whatever the form, so a
//! `Str` can key a map that is queried with `&str` (`Borrow<str>`).
//!
//! The crate forbids unsafe code, so the inline form re-checks its (at most 22) bytes as UTF-8
//! when it is viewed as `&str`; that is a few nanoseconds, and the codec's hot paths
//! ([`Str::as_bytes`], comparisons, ordering) skip it.
//!
//! There is deliberately no form that borrows the decoded frame (`Bytes`): a `Bytes` handle is
//! 32 bytes, which would make every `Str` (and so every attribute and node) 40 bytes, and
//! without unsafe code its `&str` view would have to re-validate the whole string on every
//! access. Strings longer than the inline capacity are rare on the wire (JIDs decode to
//! [`Jid`](super::Jid), whose user is inline too), so they take the shared form instead.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An immutable string: static, inline (short) or shared (long). See the module docs.
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Inline(Inline),
    Shared(Arc<str>),
}

/// Inline storage: the first `len` bytes of `buf`, valid UTF-8 by construction.
#[derive(Clone, Copy)]
struct Inline {
    len: u8,
    buf: [u8; Str::INLINE_CAP],
}

impl Inline {
    /// `bytes` inline, if it fits; the caller guarantees UTF-8.
    #[inline]
    fn new(bytes: &[u8]) -> Option<Self> {
        let mut buf = [0u8; Str::INLINE_CAP];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self {
            len: bytes.len() as u8,
            buf,
        })
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl Str {
    /// Longest string stored inline, without a heap allocation.
    pub const INLINE_CAP: usize = 22;

    /// The empty string.
    pub const EMPTY: Self = Self::from_static("");

    /// A borrowed static string (no copy, no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        Self(Repr::Static(s))
    }

    /// A copy of `s`: inline when it fits, shared otherwise.
    pub fn new(s: &str) -> Self {
        match Inline::new(s.as_bytes()) {
            Some(inline) => Self(Repr::Inline(inline)),
            None => Self(Repr::Shared(Arc::from(s))),
        }
    }

    /// Makes `slot` an inline string of `len` bytes that `fill` writes in place (the first
    /// `len` bytes of the buffer), for the decoder: the bytes must be UTF-8 (it passes unpacked
    /// ASCII or text it has validated). Filling in place matters: a `Str` built on the stack and
    /// then moved is read back with wider loads than it was written with, which stalls.
    /// Returns false (and leaves `slot` and `fill` alone) when `len` exceeds
    /// [`Str::INLINE_CAP`]. Should the bytes not be UTF-8 after all, the string reads as empty
    /// through [`Str::as_str`] (never unsound, never a panic).
    #[inline]
    pub(crate) fn fill_inline(
        slot: &mut Self,
        len: usize,
        fill: impl FnOnce(&mut [u8; Self::INLINE_CAP]),
    ) -> bool {
        if len > Self::INLINE_CAP {
            return false;
        }
        *slot = Self(Repr::Inline(Inline {
            len: len as u8,
            buf: [0u8; Self::INLINE_CAP],
        }));
        if let Repr::Inline(inline) = &mut slot.0 {
            fill(&mut inline.buf);
            debug_assert!(std::str::from_utf8(inline.as_bytes()).is_ok());
        }
        true
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            // UTF-8 was checked when the inline string was built: the fallback is never taken.
            Repr::Inline(inline) => std::str::from_utf8(inline.as_bytes()).unwrap_or_default(),
            Repr::Shared(s) => s,
        }
    }

    /// The string's bytes (no UTF-8 check: the fast view for encoders and comparisons).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Static(s) => s.as_bytes(),
            Repr::Inline(inline) => inline.as_bytes(),
            Repr::Shared(s) => s.as_bytes(),
        }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Static(s) => s.len(),
            Repr::Inline(inline) => usize::from(inline.len),
            Repr::Shared(s) => s.len(),
        }
    }

    /// True for the empty string.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the string is a borrowed `&'static str`.
    pub fn is_static(&self) -> bool {
        matches!(self.0, Repr::Static(_))
    }

    /// True when the string is stored inline (no heap memory).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// True when the string lives in a shared heap allocation.
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared(_))
    }

    /// The string as an owned `String` (always a copy).
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

impl Default for Str {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Deref for Str {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Str {
    #[inline]
    fn from(s: &'static str) -> Self {
        Self::from_static(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        match Inline::new(s.as_bytes()) {
            Some(inline) => Self(Repr::Inline(inline)),
            None => Self(Repr::Shared(Arc::from(s))),
        }
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Self {
        Self::new(s)
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Self {
        Self::from(String::from(s))
    }
}

impl From<Arc<str>> for Str {
    fn from(s: Arc<str>) -> Self {
        match Inline::new(s.as_bytes()) {
            Some(inline) => Self(Repr::Inline(inline)),
            None => Self(Repr::Shared(s)),
        }
    }
}

impl From<std::borrow::Cow<'static, str>> for Str {
    fn from(s: std::borrow::Cow<'static, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => Self::from_static(s),
            std::borrow::Cow::Owned(s) => Self::from(s),
        }
    }
}

impl From<Str> for String {
    fn from(s: Str) -> Self {
        s.into_string()
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    /// Byte-wise, which is `str`'s order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Str {
    /// Hashes exactly as the `str` does (required by `Borrow<str>`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_with {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Str {
            #[inline]
            fn eq(&self, other: &$t) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<Str> for $t {
            #[inline]
            fn eq(&self, other: &Str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }
    )*};
}

eq_with!(str, &str, String);

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
#[path = "string_tests.rs"]
mod tests;
