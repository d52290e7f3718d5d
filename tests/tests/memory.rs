//! The HTTP suite on the memory store.

session_tests::http_suite!(async {
    std::sync::Arc::new(session_cookie::MemoryStore::new())
        as std::sync::Arc<dyn session_cookie::SessionStore>
});
