//! Compact, shared label sets for ECS targets.
//!
//! An estate of thousands of tasks repeats the same label names and most of the same values
//! (cluster, family, revision, zone, instance...) on every target. A [`LabelSet`] is one sorted
//! slice of shared strings, and an [`Interner`] hands out one allocation per distinct string of
//! a resolution, so a target costs a few hundred bytes instead of a map of owned strings.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// A shared, immutable string, one pointer wide: a label pair is 16 bytes rather than the 32
/// of two `Arc<str>`, which at thousands of targets of ~25 labels is most of their memory. The
/// extra indirection costs one allocation per distinct string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Arc<Box<str>>);

impl Text {
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Hashes and compares as its `str`, so a set of `Text` is looked up by `&str`.
impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(value: &str) -> Self {
        Self(Arc::new(value.into()))
    }
}

impl From<String> for Text {
    fn from(value: String) -> Self {
        Self(Arc::new(value.into_boxed_str()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// One allocation per distinct string; lives for one resolution.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Text>,
}

impl Interner {
    pub fn intern(&mut self, value: &str) -> Text {
        if let Some(found) = self.strings.get(value) {
            return found.clone();
        }
        let text = Text::from(value);
        self.strings.insert(text.clone());
        text
    }
}

/// Labels sorted by name, each name once.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSet(Box<[(Text, Text)]>);

impl LabelSet {
    /// Builds the set from pairs in insertion order: a later pair replaces an earlier one of the
    /// same name, as `BTreeMap::insert` would.
    pub fn from_pairs(mut pairs: Vec<(Text, Text)>) -> Self {
        pairs.reverse();
        // Stable: of equal names, the last inserted comes first and is the one kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, kept| later.0 == kept.0);
        Self(pairs.into_boxed_slice())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for LabelSet {
    type Output = str;

    fn index(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("no label named {name}"))
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(interner: &mut Interner, items: &[(&str, &str)]) -> Vec<(Text, Text)> {
        items
            .iter()
            .map(|(n, v)| (interner.intern(n), interner.intern(v)))
            .collect()
    }

    #[test]
    fn later_pairs_replace_earlier_ones_as_a_map_insert_would() {
        let mut interner = Interner::default();
        let items = [
            ("team", "a"),
            ("job", "x"),
            ("team", "b"),
            ("__meta_z", "1"),
            ("job", "y"),
            ("team", "c"),
        ];
        let set = LabelSet::from_pairs(pairs(&mut interner, &items));
        let map: std::collections::BTreeMap<&str, &str> = items.iter().copied().collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            map.into_iter().collect::<Vec<_>>()
        );
        assert_eq!(set.get("team"), Some("c"));
        assert_eq!(&set["job"], "y");
        assert!(!set.contains_key("absent"));
        assert_eq!(
            serde_json::to_string(&set).expect("json"),
            r#"{"__meta_z":"1","job":"y","team":"c"}"#
        );
    }

    #[test]
    fn equal_strings_share_one_allocation() {
        let mut interner = Interner::default();
        let a = interner.intern("arn:aws:ecs:us-east-1:1:cluster/prod");
        let b = interner.intern(&String::from("arn:aws:ecs:us-east-1:1:cluster/prod"));
        assert!(Text::ptr_eq(&a, &b));
    }

    proptest::proptest! {
        /// Any pairs make the set a map insert of them in order would: sorted by name, each name
        /// once, the last value winning; lookups and JSON agree with the map.
        #[test]
        fn a_label_set_is_the_map_of_its_pairs(
            items in proptest::collection::vec(("[a-c_]{1,3}", "[a-z]{0,3}"), 0..24)
        ) {
            let mut interner = Interner::default();
            let borrowed: Vec<(&str, &str)> = items.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let set = LabelSet::from_pairs(pairs(&mut interner, &borrowed));
            let map: std::collections::BTreeMap<&str, &str> = borrowed.iter().copied().collect();
            proptest::prop_assert_eq!(set.iter().collect::<Vec<_>>(), map.clone().into_iter().collect::<Vec<_>>());
            proptest::prop_assert_eq!(set.len(), map.len());
            for (name, value) in &map {
                proptest::prop_assert_eq!(set.get(name), Some(*value));
            }
            proptest::prop_assert_eq!(
                serde_json::to_string(&set).expect("json"),
                serde_json::to_string(&map).expect("json")
            );
        }
    }
}
