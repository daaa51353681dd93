//! A tiny driver for the NAR code, used by `bench/nar.sh` to compare with `nix-store`.
//!
//! ```text
//! nar_tool dump <path>        write the NAR of <path> to stdout
//! nar_tool unpack <target>    read a NAR from stdin and restore it at <target>
//! nar_tool hash <path>        print the NAR's sha256 (nix32) and size
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use devenv::nix::nar;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["dump", path] => {
            nar::dump(Path::new(path), std::io::stdout().lock()).map_err(|e| e.to_string())
        }
        ["unpack", target] => nar::unpack(std::io::stdin().lock(), Path::new(target))
            .map(|_| ())
            .map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                msg
            }),
        ["hash", path] => nar::dump_hash(Path::new(path))
            .map(|(h, n)| println!("{} {n}", h.to_nix32()))
            .map_err(|e| e.to_string()),
        _ => Err("usage: nar_tool dump <path> | unpack <target> | hash <path>".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
