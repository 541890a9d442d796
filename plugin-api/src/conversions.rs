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

/// The conversions between the contract's records and the WIT world's, for the bindings
/// generated at path `$wit` (the guest's wit-bindgen module or the host's wasmtime one): the
/// one list of the WIT records, shared by both sides.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_conversions {
    ($($wit:ident)::+) => {
        $crate::enum_conversions! {
            $($wit)::+::ComponentKind => $crate::types::ComponentKind { Arm, Strategy }
            $($wit)::+::ObservationStatus => $crate::types::ObservationStatus { Final, Interim, Failed }
        }

        $crate::record_conversions! {
            $($wit)::+::Matrix => $crate::types::Matrix { cols, data }
            $($wit)::+::PluginInfo => $crate::types::PluginInfo {
                name, version, api_version, description, arms, strategies
            }
            $($wit)::+::ArmConfig => $crate::types::ArmConfig {
                model, space_json, options_json, seed
            }
            $($wit)::+::Observations => $crate::types::Observations { x, y, cost, status [each] }
            $($wit)::+::ProposeRequest => $crate::types::ProposeRequest {
                acquisition, candidates, pending, n, seed, allow_off_pool
            }
            $($wit)::+::Proposed => $crate::types::Proposed {
                pool_index, point, acquisition, mean, variance
            }
            $($wit)::+::Prediction => $crate::types::Prediction { mean, variance }
            $($wit)::+::StrategyConfig => $crate::types::StrategyConfig {
                name, arm_names, options_json, seed
            }
            $($wit)::+::ArmStat => $crate::types::ArmStat {
                pulls, failures, total_reward, suspended
            }
            $($wit)::+::SelectRequest => $crate::types::SelectRequest {
                iteration, elapsed, stats [each]
            }
            $($wit)::+::Feedback => $crate::types::Feedback { chosen, reward, gains, elapsed }
        }
    };
}

/// The conversions between the contract's stopper records and the WIT world's `stopping`
/// interface (API 1.2), for the bindings at path `$wit` (guest or host side).
#[doc(hidden)]
#[macro_export]
macro_rules! stopping_conversions {
    ($($wit:ident)::+) => {
        $crate::enum_conversions! {
            $($wit)::+::Decision => $crate::types::Decision { Continue, Stop }
            $($wit)::+::JobState => $crate::types::JobState { Pending, Complete, Failed }
        }

        $crate::record_conversions! {
            $($wit)::+::RuleConfig => $crate::types::RuleConfig {
                name, options_json, seed, horizon
            }
            $($wit)::+::Curve => $crate::types::Curve { epochs, values, terminated }
            $($wit)::+::Job => $crate::types::Job { trial, parent, budget, state, value }
            $($wit)::+::Assignment => $crate::types::Assignment { promote, budget }
        }
    };
}
