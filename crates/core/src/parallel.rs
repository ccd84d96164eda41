//! Work split by key range and run on scoped threads: a flush cut into ranges, a
//! compaction's subcompactions.

/// Runs `f` on every item and returns the results in the items' order: the first item on
/// the calling thread, each other on a scoped thread of its own. A thread that panics gives
/// `panicked()` in its place, so the caller sees an error it can clean up after (delete what
/// the other ranges wrote) instead of a panic.
pub fn on_threads<T, R>(items: &[T], f: impl Fn(&T) -> R + Sync, panicked: impl Fn() -> R) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let Some((first, rest)) = items.split_first() else { return Vec::new() };
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = rest.iter().map(|item| scope.spawn(move || f(item))).collect();
        let mut results = Vec::with_capacity(items.len());
        results.push(f(first));
        results.extend(others.into_iter().map(|other| other.join().unwrap_or_else(|_| panicked())));
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_and_a_panic_becomes_an_error() {
        let items = [1, 2, 3, 4];
        let on_caller = std::thread::current().id();
        let results = on_threads(
            &items,
            |&i| {
                // The first item runs on the calling thread, the others elsewhere.
                assert_eq!(i == 1, std::thread::current().id() == on_caller);
                assert_ne!(i, 3, "range 3 fails");
                Ok(i * 10)
            },
            || Err("panicked"),
        );
        assert_eq!(results, [Ok(10), Ok(20), Err("panicked"), Ok(40)]);
        assert!(on_threads(&[] as &[u8], |_| 0, || 1).is_empty());
    }
}
