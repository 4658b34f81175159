//! Errors that end the process with a status of their own (the others exit with 1).

/// Exit status of a mistake in the options or a config file, as for the option parser's.
pub const USAGE: u8 = 2;
/// Exit status when some cameras failed and the others ran to their end.
pub const SOME_FAILED: u8 = 3;

/// An error with the exit status it ends the process with.
#[derive(Debug)]
pub struct Exit {
    pub status: u8,
    pub message: String,
}

impl Exit {
    /// A mistake in the options or the config file (status [`USAGE`]).
    pub fn usage(message: impl Into<String>) -> Exit {
        Exit { status: USAGE, message: message.into() }
    }

    /// Some cameras failed, the others ended normally (status [`SOME_FAILED`]).
    pub fn some_failed(message: impl Into<String>) -> Exit {
        Exit { status: SOME_FAILED, message: message.into() }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}
