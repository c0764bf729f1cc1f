//! Rust bindings of `wit/sandbox.wit`, the contract with the guest.

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "wit",
    imports: {
        "bgwasm:sandbox/events.wait": async,
    },
    exports: { default: async },
});
