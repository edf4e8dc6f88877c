//! [`chained_setters!`]: the builder setters of the public surface (ADR 0022),
//! each one line saying what it stores where.

/// Writes chained setters, `pub fn name(mut self, arg: Type) -> Self`, that
/// store one value. Each entry reads `name(arg: Type) => field.path = value;`;
/// the doc comments and attributes above an entry become the setter's.
///
/// Only for setters that do nothing but store: one that also checks, appends
/// to a list or touches two fields is written out.
///
/// `via name;` first stores through `self.name()` (a `&mut` accessor, e.g.
/// a copy-on-write part) instead of `self`.
macro_rules! chained_setters {
    (via $via:ident; $(
        $(#[$attr:meta])*
        $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;
    )*) => {$(
        $(#[$attr])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$via().$($field).+ = $value;
            self
        }
    )*};
    ($(
        $(#[$attr:meta])*
        $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;
    )*) => {$(
        $(#[$attr])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = $value;
            self
        }
    )*};
}
pub(crate) use chained_setters;
