//! What the server has seen (stanzas, logins, pre-key uploads), kept whole for tests and the
//! simulator, or bounded for a server that runs for days.
//!
//! ```text
//!   push ──▶ kept: [ oldest … newest ]     total = dropped + kept.len()
//!            once kept.len() reaches 2·limit, the oldest are dropped down to `limit`
//! ```

/// An append-only history, optionally bounded to at least the newest `limit` entries (and at
/// most `2·limit`: dropping in batches keeps a push amortised O(1) and the kept entries one
/// contiguous slice).
#[derive(Debug, Clone)]
pub(crate) struct History<T> {
    kept: Vec<T>,
    dropped: usize,
    limit: Option<usize>,
}

impl<T> History<T> {
    /// An empty history; `None` keeps everything.
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self {
            kept: Vec::new(),
            dropped: 0,
            limit,
        }
    }

    /// Appends `item`, dropping the oldest entries when the bound says so.
    pub(crate) fn push(&mut self, item: T) {
        self.kept.push(item);
        if let Some(n) = self.limit
            && self.kept.len() >= n.saturating_mul(2).max(1)
        {
            let drop = self.kept.len() - n;
            self.kept.drain(..drop);
            self.dropped += drop;
        }
    }

    /// The entries still kept, oldest first.
    pub(crate) fn kept(&self) -> &[T] {
        &self.kept
    }

    /// How many entries were ever pushed.
    pub(crate) fn total(&self) -> usize {
        self.dropped + self.kept.len()
    }

    /// The kept entries after the first `seen` ever pushed (entries already dropped are gone).
    pub(crate) fn since(&self, seen: usize) -> &[T] {
        let from = seen.saturating_sub(self.dropped).min(self.kept.len());
        &self.kept[from..]
    }
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn a_bounded_history_keeps_the_newest_and_counts_everything() {
        let mut h = History::new(Some(10));
        let mut seen = 0;
        let mut read = Vec::new();
        for i in 0..1_000u32 {
            h.push(i);
            assert!(h.kept().len() < 20, "{}", h.kept().len());
            assert!(h.kept().len() >= 10 || h.kept().len() == i as usize + 1);
            assert_eq!(h.kept().last(), Some(&i));
            // A reader that keeps up sees every entry once.
            read.extend_from_slice(h.since(seen));
            seen = h.total();
        }
        assert_eq!(h.total(), 1_000);
        assert_eq!(read, (0..1_000).collect::<Vec<_>>());
        // A reader that fell behind gets what is still kept, never a panic.
        assert_eq!(h.since(0), h.kept());
        assert!(h.since(5_000).is_empty());
    }

    #[test]
    fn an_unbounded_history_keeps_everything_and_zero_keeps_nothing() {
        let mut all = History::new(None);
        let mut none = History::new(Some(0));
        for i in 0..1_000u32 {
            all.push(i);
            none.push(i);
        }
        assert_eq!(all.kept().len(), 1_000);
        assert_eq!(
            all.since(990),
            &[990, 991, 992, 993, 994, 995, 996, 997, 998, 999]
        );
        assert!(none.kept().is_empty());
        assert_eq!(none.total(), 1_000);
    }
}
