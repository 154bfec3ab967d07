//! Collection identity for threddex: from a dataset's ID (else urlPath, else name) derive the
//! collection it belongs to and the granule's time.
//!
//! A validated timestamp grammar (see the crate README for the table) finds timestamps,
//! dated folder segments and time ranges; they are removed, the separators they leave
//! dangling are collapsed, and the naming authority is prefixed:
//!
//! ```
//! use threddex_ids::Deriver;
//! let d = Deriver::new().derive(
//!     "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids",
//!     "edu.ucar.unidata",
//! );
//! assert_eq!(d.collection_id, "edu.ucar.unidata:NWS/NEXRAD3/PTA/YUX/Level3_YUX_PTA.nids");
//! assert_eq!(d.start.unwrap().to_rfc3339(), "2019-08-30T17:13:00+00:00");
//! ```
//!
//! All times are UTC. The crate is pure: no I/O, no clock ("now" is never invented).

#![forbid(unsafe_code)]

mod authority;
mod derive;
mod folders;
mod scan;
mod template;
mod time;

pub use authority::authority_from_host;
pub use derive::{Derived, Deriver};
pub use folders::{is_live_name, path_date};
pub use template::{read_time, render, renders_back};
pub use time::{MAX_YEAR, MIN_BARE_YEAR, MIN_YEAR};

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A per-source extra rule is not a valid (or is a too large) regular expression.
    #[error("bad extra rule {rule:?}: {message}")]
    BadRule {
        /// The rule as given (truncated when very long).
        rule: String,
        /// Why it was rejected.
        message: String,
    },
}
