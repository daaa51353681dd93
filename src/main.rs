#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    devenv::cli::main()
}
