//! The one error type commands return: a message for the user and the exit code that goes with
//! it (1 runtime failure, 2 usage or input error).

use std::process::ExitCode;

/// An error for the user: what happened, why and what to do, plus its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    /// A usage or input error (exit code 2).
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// A runtime failure (exit code 1).
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// Exit with `code` without printing anything more (the command already said why).
    pub(crate) fn quiet(code: u8) -> Self {
        Self {
            message: String::new(),
            code,
        }
    }

    /// Prints the message (if any) to stderr and turns the failure into the exit code.
    pub(crate) fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("tether: error: {}", self.message);
            }
        }
        ExitCode::from(self.code)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::runtime(format!("{error:#}"))
    }
}
