//! Compiles the kernels as host C++ (`kernels/emu/host.cpp`) for the differential tests. Without
//! a C++ compiler the crate still builds; the emulator is left out and its tests say so.

fn main() {
    println!("cargo::rerun-if-changed=kernels");
    println!("cargo::rustc-check-cfg=cfg(obelysk_gpu_emulator)");
    let built = cc::Build::new()
        .cpp(true)
        .std("c++17")
        .warnings(true)
        .file("kernels/emu/host.cpp")
        .try_compile("obelysk_gpu_emulator");
    match built {
        Ok(()) => println!("cargo::rustc-cfg=obelysk_gpu_emulator"),
        Err(e) => println!("cargo::warning=kernel emulator not built (no C++ compiler?): {e}"),
    }
}
