//! The virtual-time event queue: events ordered by `(time, sequence)`, so two events at the
//! same instant run in the order they were scheduled and a run never depends on heap
//! internals or hash order.

use crate::SimTime;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

struct Entry<E> {
    at: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub struct Scheduler<E> {
    now: SimTime,
    seq: u64,
    queue: BinaryHeap<Reverse<Entry<E>>>,
    /// Events scheduled together (`schedule_all`), each run sorted by `(time, sequence)`: taken
    /// from the front, in the same order as from the heap, without its work (a push design
    /// schedules a day of deliveries at once: a heap of them cost a fifth of a full-scale run).
    runs: Vec<VecDeque<Entry<E>>>,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Scheduler { now: SimTime::ZERO, seq: 0, queue: BinaryHeap::new(), runs: Vec::new() }
    }
}

impl<E> Scheduler<E> {
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at`; a time in the past runs at the current time instead.
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let at = at.max(self.now);
        self.queue.push(Reverse(Entry { at, seq: self.seq, event }));
        self.seq += 1;
    }

    /// Schedules each of `events` as `schedule` would, one after the other: they run in the
    /// same order among themselves and with every other event as if scheduled one by one.
    pub fn schedule_all(&mut self, events: impl IntoIterator<Item = (SimTime, E)>) {
        let now = self.now;
        let mut run: Vec<Entry<E>> = (events.into_iter())
            .map(|(at, event)| {
                self.seq += 1;
                Entry { at: at.max(now), seq: self.seq - 1, event }
            })
            .collect();
        if !run.is_empty() {
            run.sort_unstable();
            self.runs.push(run.into());
        }
    }

    /// Where the next event is: the heap (`None`) or a run; `None` outside when there is none.
    fn next_place(&self) -> Option<(SimTime, Option<usize>)> {
        let mut best = self.queue.peek().map(|Reverse(e)| ((e.at, e.seq), None));
        for (i, run) in self.runs.iter().enumerate() {
            let head = run.front().expect("runs are never empty");
            if best.is_none_or(|(key, _)| (head.at, head.seq) < key) {
                best = Some(((head.at, head.seq), Some(i)));
            }
        }
        best.map(|((at, _), place)| (at, place))
    }

    /// The next event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let entry = match self.next_place()?.1 {
            None => self.queue.pop().expect("the heap has the next event").0,
            Some(i) => {
                let entry = self.runs[i].pop_front().expect("runs are never empty");
                if self.runs[i].is_empty() {
                    self.runs.swap_remove(i);
                }
                entry
            }
        };
        self.now = entry.at;
        Some((entry.at, entry.event))
    }

    /// When the next event is due, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.next_place().map(|(at, _)| at)
    }

    pub fn len(&self) -> usize {
        self.queue.len() + self.runs.iter().map(VecDeque::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_at_the_same_time_run_in_scheduling_order() {
        let mut s = Scheduler::default();
        s.schedule(SimTime::from_nanos(5), "b");
        s.schedule(SimTime::from_nanos(1), "a");
        s.schedule(SimTime::from_nanos(5), "c");
        let order: Vec<_> = std::iter::from_fn(|| s.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(s.now(), SimTime::from_nanos(5));
    }

    #[test]
    fn scheduling_in_the_past_runs_now() {
        let mut s = Scheduler::default();
        s.schedule(SimTime::from_nanos(10), 1);
        s.pop();
        s.schedule(SimTime::from_nanos(3), 2);
        assert_eq!(s.pop(), Some((SimTime::from_nanos(10), 2)));
    }

    #[test]
    fn events_scheduled_together_run_in_the_order_they_would_one_by_one() {
        use rand::RngExt;
        let mut rng = crate::rng::stream(3, "scheduler-test");
        let (mut batched, mut single) = (Scheduler::default(), Scheduler::default());
        let mut next = 0u32;
        let mut popped = 0;
        for _ in 0..2_000 {
            match rng.random_range(0..4) {
                // A run of events, some at the same instant as each other and as queued ones.
                0 => {
                    let now = single.now().as_nanos();
                    let run: Vec<_> = (0..rng.random_range(0..20))
                        .map(|_| {
                            next += 1;
                            (SimTime::from_nanos(now + rng.random_range(0..50)), next)
                        })
                        .collect();
                    for &(at, e) in &run {
                        single.schedule(at, e);
                    }
                    batched.schedule_all(run);
                }
                1 => {
                    next += 1;
                    let at = SimTime::from_nanos(single.now().as_nanos() + rng.random_range(0..50));
                    single.schedule(at, next);
                    batched.schedule(at, next);
                }
                _ => {
                    assert_eq!(batched.peek_time(), single.peek_time());
                    assert_eq!(batched.pop(), single.pop());
                    popped += 1;
                }
            }
            assert_eq!(batched.len(), single.len());
        }
        while let Some(e) = single.pop() {
            assert_eq!(batched.pop(), Some(e));
            popped += 1;
        }
        assert!(batched.is_empty() && popped > 2_000, "{popped}");
    }
}
