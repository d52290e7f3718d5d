//! Shared pieces of the cross-backend suite: the hotel app, a store wrapper
//! that counts and fails calls on demand, a test server with a real HTTP
//! client, and the HTTP suite every backend runs (see [`http_suite!`]).

/// The hotel on actix-web, answering as [`hotel`] does.
#[path = "../../session-actix/examples/hotel/app.rs"]
pub mod actix_hotel;
#[path = "../../session-cookie/examples/hotel/app.rs"]
pub mod hotel;

mod app;
pub mod browser;
mod counting;
pub mod damage;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod deadline;
pub mod expiry_suite;
mod on_actix;
pub mod servers;
pub mod suite;
#[cfg(all(feature = "tls", any(feature = "postgres", feature = "mysql")))]
pub mod tls;

pub use app::{cookie_value, is_removal, set_cookies, Adapter, AppSpec, Hook, TestApp};
pub use counting::{Calls, CountingStore};

/// Secret used by the suite's apps.
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
