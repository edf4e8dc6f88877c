//! [`chained_setters!`]: the builder setters of the public surface (ADR 0022),
//! each one line saying what it stores where.

/// Writes chained setters, `pub fn name(mut self, arg: Type) -> Self`, that
/// store one value. Each entry reads `name(arg: Type) => field.path = value;`;
/// the doc comments and attributes above an entry become the setter's.
///
/// Only for setters that do nothing but store: one that also checks, appends
/// to a list or touches two fields is written out.
macro_rules! chained_setters {
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
