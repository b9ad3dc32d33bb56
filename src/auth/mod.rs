//! Who is asking: staff passwords, staff sessions and their extractors, login throttling and
//! cross-site request forgery protection.

pub mod accounts;
pub mod csrf;
pub mod password;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod ticket;

pub use password::Passwords;
pub use session::{AdminStaff, CurrentStaff};
