//! Shared helpers of the cross-backend suite.
