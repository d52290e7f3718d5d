//! The HTTP suite on the memory store.
//!
//! No damaged-record test here (see `session_tests::damage`): the memory
//! store holds only bytes it encoded itself, in its own process, so
//! nothing outside the process can damage one.

session_tests::http_suite!(async {
    std::sync::Arc::new(session_cookie::MemoryStore::new())
        as std::sync::Arc<dyn session_cookie::SessionStore>
});
