//! Native state that a JavaScript object owns (a streaming decoder, a
//! compressor), held here by a numeric handle. The prelude frees a handle
//! when its stream ends, and a `FinalizationRegistry` frees it when the
//! object is collected first.

use std::collections::HashMap;

/// Values of one kind, by handle.
pub struct Handles<T> {
    next: u32,
    live: HashMap<u32, T>,
}

impl<T> Handles<T> {
    pub fn new() -> Self {
        Self {
            next: 1,
            live: HashMap::new(),
        }
    }

    pub fn insert(&mut self, value: T) -> u32 {
        let handle = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.live.insert(handle, value);
        handle
    }

    pub fn get_mut(&mut self, handle: u32) -> Option<&mut T> {
        self.live.get_mut(&handle)
    }

    pub fn remove(&mut self, handle: u32) -> Option<T> {
        self.live.remove(&handle)
    }
}
