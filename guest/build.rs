//! Link settings of the guest component.

fn main() {
    // wasm-ld's default shadow stack is 64 KiB, below QuickJS's own stack
    // limit; with 1 MiB the engine's check fires first and deep recursion
    // becomes a catchable RangeError instead of a memory fault.
    println!("cargo:rustc-link-arg=-zstack-size=1048576");
}
