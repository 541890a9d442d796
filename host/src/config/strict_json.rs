//! Duplicate keys in JSON documents are errors. serde_json keeps the last of two equal
//! keys silently; a space with the same parameter twice, or a run configuration with the
//! same option twice, would then run with half of what its author wrote.

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

/// A JSON document walked only to find duplicate keys (values are not kept).
struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("the key \"{key}\" appears twice")));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

/// Checks that no object in `text` has a key twice. The error carries the line and column
/// of the second occurrence; text that is not JSON passes (the real parse reports it).
pub fn check_no_duplicate_keys(text: &str) -> Result<(), serde_json::Error> {
    match serde_json::from_str::<NoDuplicates>(text) {
        Err(e) if e.is_data() => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_found_at_any_depth_with_their_position() {
        assert!(check_no_duplicate_keys(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#).is_ok());
        let e = check_no_duplicate_keys("{\"a\": 1,\n \"b\": {\"c\": 1, \"c\": 2}}").unwrap_err();
        assert!(e.to_string().contains("\"c\" appears twice"), "{e}");
        assert_eq!(e.line(), 2);
        assert!(check_no_duplicate_keys(r#"[{"x": 1}, {"x": 1, "x": 2}]"#).is_err());
        // Not JSON at all: left to the real parser.
        assert!(check_no_duplicate_keys("{ nope").is_ok());
    }
}
