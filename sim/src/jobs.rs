//! Independent runs on several threads, their results put back in the order of the work: what
//! lets `sweep` and `tournament` write the same bytes whatever `--jobs` says.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `run` on every item of `work` on up to `jobs` threads and returns the results in the
/// order of `work`; `on_done` is called after each.
pub fn in_order<W: Sync, R: Send>(
    work: &[W],
    jobs: usize,
    run: impl Fn(&W) -> R + Sync,
    on_done: &(dyn Fn() + Sync),
) -> Vec<R> {
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..work.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, work.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = work.get(i) else { break };
                    let result = run(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    on_done();
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.into_iter().map(|r| r.expect("every run finished")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_order_of_the_work_whatever_the_threads() {
        let work: Vec<u64> = (0..200).collect();
        let done = AtomicUsize::new(0);
        for jobs in [1, 2, 7] {
            let out = in_order(&work, jobs, |&n| n * n, &|| {
                done.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(out, work.iter().map(|n| n * n).collect::<Vec<_>>());
        }
        assert_eq!(done.load(Ordering::Relaxed), 600);
    }
}
