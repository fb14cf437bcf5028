//! The botctl binary: everything happens in the library, which returns the exit code.

#[allow(clippy::disallowed_methods)] // the one place that ends the process
fn main() {
    std::process::exit(botctl::main_with_args(std::env::args_os()));
}
