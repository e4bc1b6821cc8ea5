//! Generates the ABI definitions from the C header, the single source of truth, and compiles a
//! C file that records what the C compiler makes of the header's ioctl macros, for a test.

use std::{env, path::PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    let uapi = root.join("include/uapi");
    let header = uapi.join("linux/copy_range.h");
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-changed=src/abi.c");
    if env::var_os("LIBCLANG_PATH").is_none() {
        // Debian 12's default libclang is too old for bindgen; `make deps` installs 19.
        env::set_var("LIBCLANG_PATH", "/usr/lib/llvm-19/lib");
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindgen::Builder::default()
        .header(header.to_str().unwrap())
        .clang_arg(format!("-I{}", uapi.display()))
        .allowlist_type("copy_range_.*")
        .allowlist_var("COPY_RANGE_.*")
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .expect("bindgen failed on include/uapi/linux/copy_range.h")
        .write_to_file(out.join("copy_range_uapi.rs"))
        .unwrap();

    cc::Build::new()
        .file("src/abi.c")
        .include(&uapi)
        .warnings(true)
        .compile("copy_range_abi");
}
