//! Conversions between the contract's records ([`crate::types`]) and their other spellings
//! (the native stable-ABI mirrors, the wit-bindgen records of a wasm guest, the wasmtime
//! records of the host), written as one field list per record instead of one hand-written
//! `From` impl per record and direction.

/// Implements `From` both ways between two records with the same field names: each listed
/// field converts with `Into`, or, marked `[each]`, element by element (a list of records).
///
/// ```ignore
/// hpo_plugin_api::record_conversions! {
///     wit::Matrix => Matrix { cols, data }
///     wit::SelectRequest => SelectRequest { iteration, elapsed, stats [each] }
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! record_conversions {
    ($( $a:ty => $b:ty { $( $field:ident $([$each:ident])? ),* $(,)? } )*) => {$(
        impl From<$a> for $b {
            fn from(record: $a) -> Self {
                Self { $( $field: $crate::__convert_field!(record.$field $(, $each)?), )* }
            }
        }

        impl From<$b> for $a {
            fn from(record: $b) -> Self {
                Self { $( $field: $crate::__convert_field!(record.$field $(, $each)?), )* }
            }
        }
    )*};
}

/// One field's conversion in [`record_conversions!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __convert_field {
    ($value:expr) => {
        $value.into()
    };
    ($value:expr, each) => {
        $value.into_iter().map(Into::into).collect()
    };
}

/// Implements `From` both ways between two field-less enums with the same variants.
#[doc(hidden)]
#[macro_export]
macro_rules! enum_conversions {
    ($( $a:ty => $b:ty { $( $variant:ident ),* $(,)? } )*) => {$(
        impl From<$a> for $b {
            fn from(value: $a) -> Self {
                match value { $( <$a>::$variant => <$b>::$variant, )* }
            }
        }

        impl From<$b> for $a {
            fn from(value: $b) -> Self {
                match value { $( <$b>::$variant => <$a>::$variant, )* }
            }
        }
    )*};
}
