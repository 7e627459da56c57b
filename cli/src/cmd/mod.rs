//! One module per `tether` command.

pub(crate) mod backup;
pub(crate) mod doctor;
pub(crate) mod sim;
pub(crate) mod status;
pub(crate) mod stop;
