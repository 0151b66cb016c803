//! Label and field selectors: parsing `?labelSelector=` and `?fieldSelector=`, converting
//! `metav1.LabelSelector` objects, and matching objects against both, with kube-apiserver's
//! grammar, semantics and error messages.
//!
//! The apiserver filters lists and watches with these; controllers match pods against their
//! owners' selectors; `Scale.status.selector` and printer columns use the canonical string form.
//! Pure and total: any input string gives a selector or a `SelectorError`, never a panic. This
//! module must not decide HTTP details (every `SelectorError` is a 400 with its `Display` as the
//! message) nor read anything but the JSON it is given.

mod error;
mod field;
mod field_sets;
mod label;
mod label_parser;

#[cfg(test)]
mod tests;

pub use error::SelectorError;
pub use field::{FieldSelector, field_value, supported_fields};
pub use field_sets::selectable_paths;
pub use label::{LabelSelector, Operator, Requirement};
