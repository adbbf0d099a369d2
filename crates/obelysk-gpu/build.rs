//! Compiles the kernels as host C++ (`kernels/emu/host.cpp`): the emulator the differential
//! tests run them on. Needs a C++17 compiler, as `mimalloc` needs a C one.

fn main() {
    println!("cargo::rerun-if-changed=kernels");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .warnings(true)
        // `#pragma unroll` is for NVRTC.
        .flag_if_supported("-Wno-unknown-pragmas")
        .file("kernels/emu/host.cpp")
        .compile("obelysk_gpu_emulator");
}
