//! The store conformance suite with the near cache on (and coherent, so
//! that loads are answered from memory where the cache allows).

session_core::store_conformance!(crate::near_store(&session_test_support::key_prefix()));
