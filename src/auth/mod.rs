//! Who is asking, and may they: staff passwords, staff sessions, login throttling, call tickets
//! and cross-site request forgery protection. Nothing here knows the application's state type.

pub mod access_code;
pub mod csrf;
pub mod password;
pub mod relative;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod ticket;
pub mod turn;
pub mod wards;

pub use password::Passwords;
