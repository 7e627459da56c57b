//! One module per `tether` command.

pub(crate) mod backup;
pub(crate) mod config;
pub(crate) mod demo;
pub(crate) mod demo_backlog;
pub(crate) mod doctor;
pub(crate) mod logout;
pub(crate) mod quarantine;
pub(crate) mod run;
pub(crate) mod send;
pub(crate) mod sim;
pub(crate) mod status;
pub(crate) mod stop;
pub(crate) mod transfer;
