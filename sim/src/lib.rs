//! # tether-sim
//!
//! Deterministic simulation for Tether (`DESIGN.md` §7), sans-IO like the core:
//!
//! - [`server`]: [`FakeServer`], a fake WhatsApp server speaking the real protocol (intro,
//!   framing, Noise responder with its own certificate root, registration and `pair-device`,
//!   login verdicts, iq answers, server pings) with scriptable [`Fault`]s, carrying 1:1
//!   messages between accounts (pre-keys and bundles, usync, per-device queues, the offline
//!   backlog, receipts and retries, notifications).
//! - [`phone`]: [`FakePhone`], the primary phone that scans a QR code and links the companion.
//! - [`store`]: [`MemStore`], an in-memory `CredentialStore` with write faults.
//! - [`stepper`]: [`Stepper`], a tiny harness that runs one real `Connection` against them in
//!   virtual time, checks invariants after every step and records a [`trace`].
//!
//! - [`fault_plan`]: [`FaultPlan`], a seeded list of faults at virtual-time offsets.
//! - [`fuzzing`]: the `sim_schedule` fuzz entry point (a fuzzed [`Schedule`] run by a [`World`]).
//! - [`world`]: [`World`], one seeded run of a plan with every `DESIGN.md` §7 invariant
//!   checked, returning an [`Outcome`] with a trace hash.
//! - [`network`]: [`Network`], the seeded network between them (latency, jitter, split and
//!   coalesced messages, resets after N bytes, partitions).
//! - `net` (cargo feature `server`): `SimServer`, the `FakeServer` served over loopback
//!   websockets on its own thread, with an optional HTTP control interface.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conversation;
pub mod device;
pub mod fault_plan;
pub mod fuzzing;
pub mod mesh;
#[cfg(feature = "server")]
pub mod net;
pub mod network;
pub mod phone;
pub mod server;
pub mod stepper;
pub mod store;
pub mod trace;
pub mod world;

pub use fault_plan::arbitrary::Schedule;
pub use fault_plan::{FaultPlan, PlannedFault};
pub use network::{Direction, Loss, NetConfig, Network, Sent};
pub use phone::{FakePhone, ScanError};
pub use server::{
    Accepted, AccountError, AccountSpec, Complaint, ConnId, ConnectOutcome, Device, DeviceAddr,
    FakeServer, Fault, GroupError, GroupInfo, GroupMember, GroupRole, Handout, LocalError, Login,
    MemberChange, Namespace, PlantedBug, RegistryError, Routed, ServerConfig, StanzaClass,
};
pub use stepper::{Options, Scan, Stepper};
pub use store::{MemStore, Quarantined};
pub use trace::{Record, Traced};
pub use world::{Failure, Outcome, World};
