//! The shared store behaviour suite (`threddex_store::testsuite`) on Postgres: every test gets
//! a fresh database (`CREATE DATABASE threddex_test_…` through the admin URL of
//! `THREDDEX_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`), dropped
//! when the test ends. Postgres is required: an unreachable server fails the tests.

use super::common;

threddex_store::store_test_suite!(common::fresh_store_with_guard());
