//! The hotel app on MariaDB while MariaDB is stopped (a clean shutdown) and
//! started again on the same data directory and port, with several clients
//! writing one session: see [`session_tests::deadline`].
//!
//! The test starts its own throwaway MariaDB (`mariadb-install-db` +
//! `mariadbd`, found on `PATH` or in `/usr/sbin`) in a temp dir on a free
//! loopback port; the shared server at `MYSQL_URL` is never touched.

use std::sync::Arc;

use session_test_support::mariadb::ThrowawayMariaDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_on_one_session_get_200_or_503_within_the_deadline() {
    let server = Arc::new(ThrowawayMariaDb::start().await);
    session_tests::deadline::one_session_through_restart(server).await;
}
