//! One home per training option. [`train_options!`] takes one row per
//! option — its help (the doc comment), name, type, default, whether the
//! command line may override it and how — and makes from the rows both
//! the recipe type [`TrainConfig`](super::config::TrainConfig) (serde, its
//! `Default`) and the command line's [`TrainOverrides`](super::config::TrainOverrides)
//! (clap, applied over a recipe by `TrainOverrides::apply`). A new option
//! is one row; its help, default and flag cannot drift apart (as ripgrep
//! keeps a flag's name, help and update in one definition, and burn a
//! config field's default on the field).
//!
//! Row forms (after the option's doc comment and optional `#[arg(…)]`
//! (clap, the flag only) and `#[serde(…)]` (the recipe field only), in
//! that order):
//!
//! * `field: Type = default;` — a recipe field only;
//! * `field: Type = default, flag;` — also `--field VALUE`, which replaces it;
//! * `field: Option<T> = None, flag Some(T);` — `--field VALUE` sets `Some(VALUE)`;
//! * `… flag Some(T) clears other;` — and sets `other` to `None` (keep/drop).

/// See the module documentation.
#[macro_export]
#[doc(hidden)]
macro_rules! train_options {
    // A recipe field only.
    (@rows [$($cfg:tt)*] [$($args:tt)*] [$($apply:tt)*] [$($def:tt)*]
        $(#[doc = $doc:literal])* $(#[serde($($serde:tt)*)])*
        $field:ident : $ty:ty = $default:expr ;
        $($rest:tt)*
    ) => {
        $crate::train_options!(@rows
            [$($cfg)* $(#[doc = $doc])* $(#[serde($($serde)*)])* pub $field: $ty,]
            [$($args)*]
            [$($apply)*]
            [$($def)* $field: $default,]
            $($rest)*);
    };
    // A flag that replaces the value.
    (@rows [$($cfg:tt)*] [$($args:tt)*] [$($apply:tt)*] [$($def:tt)*]
        $(#[doc = $doc:literal])* $(#[arg($($arg:tt)*)])* $(#[serde($($serde:tt)*)])*
        $field:ident : $ty:ty = $default:expr , flag ;
        $($rest:tt)*
    ) => {
        $crate::train_options!(@rows
            [$($cfg)* $(#[doc = $doc])* $(#[serde($($serde)*)])* pub $field: $ty,]
            [$($args)* $(#[doc = $doc])* #[arg(long $(, $($arg)*)*)] pub $field: Option<$ty>,]
            [$($apply)* (|c: &mut TrainConfig, o: &TrainOverrides| {
                if let Some(v) = &o.$field {
                    c.$field = v.clone();
                }
            })]
            [$($def)* $field: $default,]
            $($rest)*);
    };
    // A flag that sets an optional value, and maybe clears another.
    (@rows [$($cfg:tt)*] [$($args:tt)*] [$($apply:tt)*] [$($def:tt)*]
        $(#[doc = $doc:literal])* $(#[arg($($arg:tt)*)])* $(#[serde($($serde:tt)*)])*
        $field:ident : $ty:ty = $default:expr , flag Some($inner:ty) $(clears $other:ident)? ;
        $($rest:tt)*
    ) => {
        $crate::train_options!(@rows
            [$($cfg)* $(#[doc = $doc])* $(#[serde($($serde)*)])* pub $field: $ty,]
            [$($args)* $(#[doc = $doc])* #[arg(long $(, $($arg)*)*)] pub $field: Option<$inner>,]
            [$($apply)* (|c: &mut TrainConfig, o: &TrainOverrides| {
                if let Some(v) = &o.$field {
                    c.$field = Some(v.clone());
                    $( c.$other = None; )?
                }
            })]
            [$($def)* $field: $default,]
            $($rest)*);
    };
    // All rows read: the two types.
    (@rows [$($cfg:tt)*] [$($args:tt)*] [$(($apply:expr))*] [$($def:tt)*]) => {
        /// Everything a run needs: a recipe's `[train]` table, written into
        /// every run folder and checkpoint. Defaults: MoCo v2 at small scale
        /// (docs/DESIGN.md §7). Each field is one row of `train_options!`
        /// in `train/config.rs`.
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct TrainConfig { $($cfg)* }

        impl Default for TrainConfig {
            fn default() -> Self {
                TrainConfig { $($def)* }
            }
        }

        /// The recipe fields the command line may override (`negstudy
        /// train --epochs 3 …`); every flag's help is its field's doc.
        #[derive(Clone, Debug, Default, clap::Args)]
        pub struct TrainOverrides { $($args)* }

        impl TrainOverrides {
            /// Replaces `c`'s fields by the flags given.
            pub fn apply(&self, c: &mut TrainConfig) {
                $( ($apply)(c, self); )*
            }
        }
    };
    ($($rows:tt)*) => {
        $crate::train_options!(@rows [] [] [] [] $($rows)*);
    };
}
