//! The `threddex` binary: everything lives in the library so tests can drive it.

/// mimalloc instead of the system allocator: the API's request path allocates many small,
/// short-lived buffers across worker threads, where glibc's malloc spent ~15 % of the
/// server's CPU under load (see docs/benchmarks.md, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    threddex::run()
}
