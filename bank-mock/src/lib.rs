//! bank-mock
