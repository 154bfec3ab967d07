//! Fresh Postgres databases: the crate's own `testdb` helpers.

#![allow(unused_imports)]

pub use threddex_store_postgres::testdb::*;
