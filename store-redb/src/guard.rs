//! Containing the database engine's panics at the store boundary.
//!
//! redb reads its file trusting that redb wrote it: on some corruptions (a zeroed page, a torn
//! copy) it panics instead of returning an error. Every call into redb on a file that may be
//! damaged runs inside [`contain`], which turns such a panic into a value the store reports as
//! [`crate::RedbStoreError::Damaged`], so no command panics on a damaged store.
//!
//! The default panic hook would still print the panic (and its backtrace note) to stderr. The
//! first [`contain`] installs a hook that stays quiet while a contained call runs on the current
//! thread and hands every other panic to the hook it replaced, so panics elsewhere in the
//! process are reported exactly as before.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many contained calls are running on this thread.
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
    /// Where the last contained panic happened (file:line), for the report.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|slot| *slot.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it becomes `Err(description)` instead of unwinding further.
///
/// Only for calls that do not leave shared state half-changed when they unwind: reads of a
/// database, or opens whose half-built handle is dropped with the panic.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    CONTAINED.with(|c| c.set(c.get().saturating_add(1)));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(c.get().saturating_sub(1)));
    result.map_err(|payload| {
        let at = LOCATION.with(|slot| slot.borrow_mut().take());
        describe(payload.as_ref(), at.as_deref())
    })
}

fn describe(payload: &(dyn Any + Send), at: Option<&str>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    // The message is redb's (an index or an assertion), never store content.
    let what: String = what.chars().take(160).collect();
    match at {
        Some(at) => format!("the database engine failed reading it ({what}, at {at})"),
        None => format!("the database engine failed reading it ({what})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_a_value_and_the_next_call_works() {
        let r: Result<(), String> = contain(|| panic!("index out of bounds"));
        let e = r.unwrap_err();
        assert!(e.contains("index out of bounds"), "{e}");
        assert!(e.contains("guard.rs"), "{e}");
        assert_eq!(contain(|| 7), Ok(7));
    }
}
