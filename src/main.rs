//! The `triaged` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    triaged::cli::main()
}
