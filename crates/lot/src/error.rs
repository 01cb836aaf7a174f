//! Errors a user can fix (bad config, missing data, corrupt files) are `InputError`s: the CLI prints
//! them as one line and exits with code 2. Everything else is an internal failure (exit 1).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Build an `anyhow::Error` that the CLI reports as bad input (exit code 2).
pub fn input_err(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(msg.into()))
}

/// `bail!` for bad input.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => { return Err($crate::error::input_err(format!($($arg)*))) };
}

/// True when any error in the chain is an `InputError`.
pub fn is_input_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<InputError>().is_some())
}
