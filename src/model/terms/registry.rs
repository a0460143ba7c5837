//! The macro behind `terms/mod.rs`'s one list: from each section's `field: SPEC` lines it
//! writes the registry and the four structs keyed by term. Each struct's fields are the file
//! formats' keys, in the registry's order, every float through `crate::json_float`.

macro_rules! registry {
    (
        research { $($r:ident: $rspec:path),* $(,)? }
        aligning { $($a:ident: $aspec:path),* $(,)? }
        critics { $($c:ident: $cspec:path),* $(,)? }
    ) => {
        /// Every loss term, in the order of the curves, the logs and the config editor.
        pub const TERMS: &[Term] = &[
            $(Term { name: stringify!($r), section: Section::Research, spec: &$rspec },)*
            $(Term { name: stringify!($a), section: Section::Aligning, spec: &$aspec },)*
            $(Term { name: stringify!($c), section: Section::Critic, spec: &$cspec },)*
        ];

        /// The weight of each research term in the total (`loss_weights.*`).
        #[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct LossWeights {
            $(#[serde(with = "crate::json_float")] pub $r: f64,)*
        }

        impl Default for LossWeights {
            fn default() -> Self {
                Self { $($r: $rspec.default_weight,)* }
            }
        }

        impl LossWeights {
            pub fn get(&self, name: &str) -> Option<f64> {
                match name {
                    $(stringify!($r) => Some(self.$r),)*
                    _ => None,
                }
            }

            pub fn get_mut(&mut self, name: &str) -> Option<&mut f64> {
                match name {
                    $(stringify!($r) => Some(&mut self.$r),)*
                    _ => None,
                }
            }
        }

        /// The weight of each aligning term (`align.*`, flattened into `AlignConfig`, whose
        /// `deny_unknown_fields` still refuses a misspelt key).
        #[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct AlignWeights {
            $(#[serde(with = "crate::json_float")] pub $a: f64,)*
        }

        impl Default for AlignWeights {
            fn default() -> Self {
                Self { $($a: $aspec.default_weight,)* }
            }
        }

        impl AlignWeights {
            pub fn get(&self, name: &str) -> Option<f64> {
                match name {
                    $(stringify!($a) => Some(self.$a),)*
                    _ => None,
                }
            }

            pub fn get_mut(&mut self, name: &str) -> Option<&mut f64> {
                match name {
                    $(stringify!($a) => Some(&mut self.$a),)*
                    _ => None,
                }
            }
        }

        /// Every term's value at a step (or a mean of steps) and the weighted total, for
        /// curves and logs. A term that is off reads 0; logs written before a term existed
        /// read back with 0 for it.
        #[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct LossValues {
            $(#[serde(with = "crate::json_float")] pub $r: f32,)*
            $(#[serde(with = "crate::json_float")] pub $a: f32,)*
            $(#[serde(with = "crate::json_float")] pub $c: f32,)*
            #[serde(with = "crate::json_float")]
            pub total: f32,
        }

        impl LossValues {
            /// "total", then every term in the registry's order.
            pub const NAMES: &'static [&'static str] =
                &["total", $(stringify!($r),)* $(stringify!($a),)* $(stringify!($c),)*];

            pub fn get_mut(&mut self, name: &str) -> Option<&mut f32> {
                match name {
                    "total" => Some(&mut self.total),
                    $(stringify!($r) => Some(&mut self.$r),)*
                    $(stringify!($a) => Some(&mut self.$a),)*
                    $(stringify!($c) => Some(&mut self.$c),)*
                    _ => None,
                }
            }
        }

        /// Running sums of every term over an epoch, in f64 so long epochs do not drift (a
        /// checkpoint's `epoch_sums`).
        #[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct LossSums {
            $(#[serde(with = "crate::json_float")] pub $r: f64,)*
            $(#[serde(with = "crate::json_float")] pub $a: f64,)*
            $(#[serde(with = "crate::json_float")] pub $c: f64,)*
            #[serde(with = "crate::json_float")]
            pub total: f64,
        }

        impl LossSums {
            pub fn get_mut(&mut self, name: &str) -> Option<&mut f64> {
                match name {
                    "total" => Some(&mut self.total),
                    $(stringify!($r) => Some(&mut self.$r),)*
                    $(stringify!($a) => Some(&mut self.$a),)*
                    $(stringify!($c) => Some(&mut self.$c),)*
                    _ => None,
                }
            }
        }
    };
}
