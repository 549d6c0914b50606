//! Which bank, which platform: typed places in a scenario's `[[banks]]` and `[[platforms]]`.
//!
//! A bank and a platform were both bare `usize` indices, and a (platform, bank) pair was a
//! `(usize, usize)` that compiled the wrong way round just as well. `BankId` and `PlatformId`
//! index only their own list (`scenario.banks[bank]`), so mixing them up is a compile error.
//! Per-bank tables outside the scenario (a driver's doors, a report's rows) index with
//! `.index()`. Neither is `Display`: a place in a list is shown as the scenario's path
//! (`banks[2]`) or by the party's name, so each caller says which.

use crate::scenario::{Bank, Platform};
use std::ops::{Index, IndexMut};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(usize);

        impl $name {
            /// The one at `index` in its list.
            pub const fn new(index: usize) -> $name {
                $name(index)
            }

            /// Its place in its list.
            pub const fn index(self) -> usize {
                self.0
            }

            /// Every one of a list of `len`, in order.
            pub fn all(len: usize) -> impl DoubleEndedIterator<Item = $name> + ExactSizeIterator + Clone {
                (0..len).map($name)
            }
        }

        impl Index<$name> for [$item] {
            type Output = $item;
            fn index(&self, id: $name) -> &$item {
                &self[id.0]
            }
        }

        impl IndexMut<$name> for [$item] {
            fn index_mut(&mut self, id: $name) -> &mut $item {
                &mut self[id.0]
            }
        }

        impl Index<$name> for Vec<$item> {
            type Output = $item;
            fn index(&self, id: $name) -> &$item {
                &self[id.0]
            }
        }

        impl IndexMut<$name> for Vec<$item> {
            fn index_mut(&mut self, id: $name) -> &mut $item {
                &mut self[id.0]
            }
        }
    };
}

id!(
    /// A bank of the scenario: its place in `Scenario::banks`.
    BankId,
    Bank
);

id!(
    /// A platform of the scenario: its place in `Scenario::platforms`.
    PlatformId,
    Platform
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_indexes_its_own_list_at_its_place() {
        let ids: Vec<BankId> = BankId::all(3).collect();
        assert_eq!(ids, [BankId::new(0), BankId::new(1), BankId::new(2)]);
        assert_eq!(ids[2].index(), 2);
        assert!(BankId::new(1) < BankId::new(2));
    }
}
