fn main() -> std::process::ExitCode {
    devenv::cli::main()
}
