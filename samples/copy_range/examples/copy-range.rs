// SPDX-License-Identifier: GPL-2.0

//! `copy-range [--allow|--require] SRC DST`: copies SRC over DST (created, truncated) with one
//! policy and prints the bytes, the time and the path. A minimal example of the library.

use copy_range::{CopyRange, Sharing};
use std::{env, fs, process::ExitCode, time::Instant};

fn main() -> ExitCode {
    let mut args: Vec<String> = env::args().skip(1).collect();
    let sharing = match args.first().map(String::as_str) {
        Some("--allow") => Sharing::Allow,
        Some("--require") => Sharing::Require,
        _ => Sharing::Forbid,
    };
    if sharing != Sharing::Forbid {
        args.remove(0);
    }
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: copy-range [--allow|--require] SRC DST");
        return ExitCode::from(2);
    };
    match run(src, dst, sharing) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("copy-range: cannot copy '{src}' to '{dst}': {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(src: &str, dst: &str, sharing: Sharing) -> std::io::Result<()> {
    let dev = CopyRange::open()?;
    let input = fs::File::open(src)?;
    let len = input.metadata()?.len();
    let output = fs::File::create(dst)?;
    let start = Instant::now();
    let copied = dev.copy_all(&input, 0, &output, 0, len, sharing)?;
    output.sync_all()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<8} {:>6} MiB in {:>8.3} s  ({:.0} MiB/s)",
        format!("{sharing:?}").to_lowercase(),
        copied >> 20,
        secs,
        (copied as f64 / (1 << 20) as f64) / secs.max(1e-9)
    );
    Ok(())
}
