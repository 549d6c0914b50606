//! platform-mock
