//! The virtual-time event queue: events ordered by `(time, sequence)`, so two events at the
//! same instant run in the order they were scheduled and a run never depends on heap
//! internals or hash order.

use crate::SimTime;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

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
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Scheduler { now: SimTime::ZERO, seq: 0, queue: BinaryHeap::new() }
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

    /// The next event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let Reverse(entry) = self.queue.pop()?;
        self.now = entry.at;
        Some((entry.at, entry.event))
    }

    /// When the next event is due, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.queue.peek().map(|Reverse(e)| e.at)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
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
}
