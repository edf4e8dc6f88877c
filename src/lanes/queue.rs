//! The waiting line of one lane: who is next under each [`QueuePolicy`].
//!
//! Pure bookkeeping, no locking and no time: the lane holds it under its mutex.
//! Every waiter is indexed twice (by arrival and by caller) so both policies,
//! and a policy switch on reload, work on the same entries.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::task::Waker;

/// The order in which a lane admits queued calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueuePolicy {
    /// Round-robin between caller ids that have calls waiting, each caller's own
    /// calls in arrival order, so one heavy caller cannot starve the rest.
    #[default]
    FairShare,
    /// Strict arrival order across all callers.
    Fifo,
}

/// A place in the line.
pub(super) type Ticket = u64;

struct Entry {
    caller: Arc<str>,
    waker: Option<Waker>,
}

#[derive(Default)]
pub(super) struct Queue {
    next: Ticket,
    by_arrival: BTreeMap<Ticket, Entry>,
    by_caller: HashMap<Arc<str>, VecDeque<Ticket>>,
    // Callers with at least one waiting call, in round-robin order.
    ring: VecDeque<Arc<str>>,
}

impl Queue {
    pub(super) fn len(&self) -> usize {
        self.by_arrival.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_arrival.is_empty()
    }

    /// Joins the back of the line; a caller new to the line joins the back of the ring.
    pub(super) fn push(&mut self, caller: Arc<str>, waker: Waker) -> Ticket {
        let ticket = self.next;
        self.next += 1;
        let mine = self.by_caller.entry(caller.clone()).or_default();
        if mine.is_empty() {
            self.ring.push_back(caller.clone());
        }
        mine.push_back(ticket);
        self.by_arrival.insert(
            ticket,
            Entry {
                caller,
                waker: Some(waker),
            },
        );
        ticket
    }

    /// Replaces the waker of a waiting ticket; false when it is not waiting.
    pub(super) fn set_waker(&mut self, ticket: Ticket, waker: &Waker) -> bool {
        match self.by_arrival.get_mut(&ticket) {
            Some(entry) => {
                if !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    entry.waker = Some(waker.clone());
                }
                true
            }
            None => false,
        }
    }

    /// Leaves the line (the caller gave up); false when the ticket was not waiting.
    pub(super) fn remove(&mut self, ticket: Ticket) -> bool {
        let Some(entry) = self.by_arrival.remove(&ticket) else {
            return false;
        };
        if let Some(mine) = self.by_caller.get_mut(&entry.caller) {
            if let Some(at) = mine.iter().position(|&t| t == ticket) {
                mine.remove(at);
            }
            if mine.is_empty() {
                self.by_caller.remove(&entry.caller);
                self.ring.retain(|c| c != &entry.caller);
            }
        }
        true
    }

    /// Takes the next ticket under `policy`, with the waker to wake.
    pub(super) fn pop(&mut self, policy: QueuePolicy) -> Option<(Ticket, Option<Waker>)> {
        let caller = match policy {
            QueuePolicy::Fifo => self.by_arrival.values().next()?.caller.clone(),
            QueuePolicy::FairShare => self.ring.pop_front()?,
        };
        let mine = self.by_caller.get_mut(&caller)?;
        // A caller's own tickets are in arrival order, so its earliest is in front.
        let ticket = mine.pop_front()?;
        let still_waiting = !mine.is_empty();
        match (policy, still_waiting) {
            (QueuePolicy::FairShare, true) => self.ring.push_back(caller),
            (QueuePolicy::FairShare, false) => {
                self.by_caller.remove(&caller);
            }
            (QueuePolicy::Fifo, true) => {}
            (QueuePolicy::Fifo, false) => {
                self.by_caller.remove(&caller);
                self.ring.retain(|c| c != &caller);
            }
        }
        let entry = self.by_arrival.remove(&ticket)?;
        Some((ticket, entry.waker))
    }

    /// Waiting calls per caller id.
    pub(super) fn per_caller(&self) -> BTreeMap<String, usize> {
        self.by_caller
            .iter()
            .map(|(caller, tickets)| (caller.to_string(), tickets.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    fn drain(q: &mut Queue, policy: QueuePolicy) -> Vec<Ticket> {
        std::iter::from_fn(|| q.pop(policy).map(|(t, _)| t)).collect()
    }

    #[test]
    fn fair_share_alternates_between_waiting_callers() {
        let mut q = Queue::default();
        let a: Arc<str> = "a".into();
        let b: Arc<str> = "b".into();
        let a_tickets: Vec<_> = (0..3).map(|_| q.push(a.clone(), noop())).collect();
        let b_tickets: Vec<_> = (0..2).map(|_| q.push(b.clone(), noop())).collect();
        let order = drain(&mut q, QueuePolicy::FairShare);
        assert_eq!(
            order,
            vec![
                a_tickets[0],
                b_tickets[0],
                a_tickets[1],
                b_tickets[1],
                a_tickets[2]
            ]
        );
        assert!(q.is_empty());
        assert!(q.ring.is_empty() && q.by_caller.is_empty());
    }

    #[test]
    fn fifo_follows_arrival() {
        let mut q = Queue::default();
        let tickets: Vec<_> = ["a", "a", "b", "a"]
            .iter()
            .map(|c| q.push(Arc::from(*c), noop()))
            .collect();
        assert_eq!(drain(&mut q, QueuePolicy::Fifo), tickets);
    }

    #[test]
    fn removing_a_callers_last_ticket_takes_it_out_of_the_ring() {
        let mut q = Queue::default();
        let a = q.push("a".into(), noop());
        let b = q.push("b".into(), noop());
        assert!(q.remove(a));
        assert!(!q.remove(a));
        assert_eq!(q.ring.len(), 1);
        assert_eq!(q.per_caller().get("b"), Some(&1));
        assert_eq!(drain(&mut q, QueuePolicy::FairShare), vec![b]);
    }

    #[test]
    fn policies_can_switch_with_work_waiting() {
        let mut q = Queue::default();
        let a1 = q.push("a".into(), noop());
        let a2 = q.push("a".into(), noop());
        let b1 = q.push("b".into(), noop());
        assert_eq!(q.pop(QueuePolicy::Fifo).map(|(t, _)| t), Some(a1));
        assert_eq!(q.pop(QueuePolicy::FairShare).map(|(t, _)| t), Some(a2));
        assert_eq!(q.pop(QueuePolicy::FairShare).map(|(t, _)| t), Some(b1));
        assert_eq!(q.len(), 0);
    }
}
