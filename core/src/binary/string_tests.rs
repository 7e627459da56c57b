use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use super::*;

/// One string in every form it can take.
fn forms(s: &'static str) -> Vec<Str> {
    let mut v = vec![
        Str::from_static(s),
        Str::new(s),
        Str::from(s.to_owned()),
        Str::from(Arc::<str>::from(s)),
    ];
    let mut filled = Str::from_static("placeholder");
    if Str::fill_inline(&mut filled, s.len(), |buf| {
        buf[..s.len()].copy_from_slice(s.as_bytes());
    }) {
        assert!(filled.is_inline());
        v.push(filled);
    }
    v
}

#[test]
fn picks_the_form_by_origin_and_length() {
    assert!(Str::from_static("iq").is_static());
    assert!(Str::from("iq").is_static());
    assert!(Str::new("iq").is_inline());
    assert!(Str::from("41207.28839-100".to_owned()).is_inline());
    let max = "x".repeat(Str::INLINE_CAP);
    assert!(Str::new(&max).is_inline());
    let over = "x".repeat(Str::INLINE_CAP + 1);
    assert!(Str::new(&over).is_shared());
    assert!(Str::from(over.clone()).is_shared());
    assert_eq!(Str::new(&over), over.as_str());
    assert!(Str::default().is_empty());
    assert_eq!(Str::EMPTY, "");
}

#[test]
fn every_form_reads_back_the_same_text() {
    for s in [
        "",
        "a",
        "iq",
        "41207.28839-100",
        "1234567890123456789012",
        "ünïcödé ✓",
        "a much longer string that cannot be inline",
    ] {
        for f in forms(s) {
            assert_eq!(f.as_str(), s);
            assert_eq!(&*f, s);
            assert_eq!(f.as_bytes(), s.as_bytes());
            assert_eq!(f.len(), s.len());
            assert_eq!(f.is_empty(), s.is_empty());
            assert_eq!(f.to_string(), s);
            assert_eq!(format!("{f:?}"), format!("{s:?}"));
            assert_eq!(f.clone().into_string(), s);
        }
    }
}

#[test]
fn multibyte_text_at_the_inline_boundary() {
    // 21 bytes of ASCII + a 2-byte char = 23 bytes: one over the inline capacity.
    let over = format!("{}é", "a".repeat(Str::INLINE_CAP - 1));
    assert_eq!(over.len(), Str::INLINE_CAP + 1);
    let s = Str::new(&over);
    assert!(s.is_shared());
    assert_eq!(s, over);
    // 20 bytes + a 2-byte char = 22 bytes: exactly fits.
    let fits = format!("{}é", "a".repeat(Str::INLINE_CAP - 2));
    let s = Str::new(&fits);
    assert!(s.is_inline());
    assert_eq!(s.as_str(), fits);
    // A 4-byte char straddling the boundary never splits.
    let emoji = format!("{}😀", "a".repeat(Str::INLINE_CAP - 3));
    assert_eq!(Str::new(&emoji).as_str(), emoji);
    assert!(Str::new(&emoji).is_shared());
}

#[test]
fn fill_inline_refuses_what_does_not_fit() {
    let mut called = false;
    let mut slot = Str::from_static("kept");
    assert!(!Str::fill_inline(&mut slot, Str::INLINE_CAP + 1, |_| {
        called = true
    }));
    assert!(
        !called,
        "the buffer is not filled when it cannot hold the string"
    );
    assert_eq!(slot, "kept");
}

#[test]
fn equality_is_by_content_across_forms() {
    for s in [
        "",
        "type",
        "abcdefghijklmnopqrstuv",
        "abcdefghijklmnopqrstuvwxyz",
    ] {
        let all = forms(s);
        for a in &all {
            for b in &all {
                assert_eq!(a, b);
                assert_eq!(a.cmp(b), Ordering::Equal);
            }
            assert!(*a == *s);
            assert!(*a == s);
            let owned: String = s.to_owned();
            assert!(*a == owned);
            assert!(owned == *a);
            assert!(*s == *a);
            assert!(s == *a);
        }
    }
    assert_ne!(Str::new("a"), Str::new("b"));
    assert_ne!(Str::from_static("ab"), "abc");
}

#[test]
fn hash_matches_str_hash() {
    let state = RandomState::new();
    for s in [
        "",
        "iq",
        "1234567890123456789012",
        "a longer string that is shared",
    ] {
        for f in forms(s) {
            assert_eq!(state.hash_one(&f), state.hash_one(s));
        }
    }
    // So a map keyed by Str is queried with &str.
    let mut map = HashMap::new();
    map.insert(Str::new("id"), 1);
    map.insert(Str::from("a long key that goes to the heap".to_owned()), 2);
    assert_eq!(map.get("id"), Some(&1));
    assert_eq!(map.get("a long key that goes to the heap"), Some(&2));
}

#[test]
fn ordering_matches_str_ordering() {
    let words = [
        "",
        "a",
        "ab",
        "b",
        "Z",
        "é",
        "zz",
        "abcdefghijklmnopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxy",
    ];
    for a in words {
        for b in words {
            for fa in forms(a) {
                for fb in forms(b) {
                    assert_eq!(fa.cmp(&fb), a.cmp(b), "{a:?} vs {b:?}");
                    assert_eq!(fa.partial_cmp(&fb), a.partial_cmp(b));
                }
            }
        }
    }
    let set: BTreeSet<Str> = words.iter().map(|w| Str::new(w)).collect();
    let mut sorted = words.to_vec();
    sorted.sort_unstable();
    assert!(set.iter().map(Str::as_str).eq(sorted));
}

#[test]
fn clones_share_instead_of_copying() {
    let long = Str::from("a string too long to be stored inline".to_owned());
    let clone = long.clone();
    assert_eq!(
        long.as_ptr(),
        clone.as_ptr(),
        "a long clone shares the allocation"
    );
    static MESSAGE: &str = "message";
    let token = Str::from_static(MESSAGE);
    let token_clone = token.clone();
    assert!(token_clone.is_static());
    assert_eq!(
        token_clone.as_ptr(),
        MESSAGE.as_ptr(),
        "a static clone borrows"
    );
    assert_eq!(token.as_ptr(), MESSAGE.as_ptr());
    let short = Str::new("123");
    let short_clone = short.clone();
    assert!(short_clone.is_inline());
    assert_eq!(short_clone, short);
    assert_eq!(size_of::<Str>(), 24);
}

#[test]
fn from_static_is_const() {
    const TAG: Str = Str::from_static("iq");
    assert_eq!(TAG, "iq");
    assert!(TAG.is_static());
}
