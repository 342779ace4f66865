//! Where a queued record's body lives: packed one after another into per-thread chunks rather
//! than in an allocation of its own.
//!
//! A body is written on the caller's thread and freed on the worker's. With one allocation per
//! record, the caller's allocator keeps handing it memory the worker freed: the `track` bench
//! put that at ~0.1 µs of a ~0.55 µs typed `track`, and packing saves about half of it (README,
//! benchmark section). Packed bodies are written one after another into a chunk, and a chunk
//! goes back to the allocator once, when the last of its records is delivered.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

/// A thread's first chunk. Each new chunk doubles, up to [`MAX_CHUNK`], so that a thread
/// which tracks a few records holds little.
const FIRST_CHUNK: usize = 4 * 1024;
const MAX_CHUNK: usize = 64 * 1024;
/// A larger body gets an allocation of its own rather than most of a chunk.
const MAX_PACKED: usize = MAX_CHUNK / 8;

struct Chunks {
    /// The free end of the current chunk; the records before it hold the rest.
    current: BytesMut,
    next_size: usize,
}

thread_local! {
    static CHUNKS: RefCell<Chunks> = RefCell::new(Chunks {
        current: BytesMut::new(),
        next_size: FIRST_CHUNK,
    });
}

/// A copy of `body`, in this thread's current chunk when it is small.
pub(crate) fn store(body: &[u8]) -> Bytes {
    if body.len() > MAX_PACKED {
        return Bytes::copy_from_slice(body);
    }
    CHUNKS
        .try_with(|chunks| {
            let Ok(mut chunks) = chunks.try_borrow_mut() else {
                return Bytes::copy_from_slice(body);
            };
            let chunks = &mut *chunks;
            if chunks.current.capacity() < body.len() {
                // Reuses the chunk in place when every record in it has been delivered.
                chunks.current.reserve(chunks.next_size);
                chunks.next_size = (chunks.next_size * 2).min(MAX_CHUNK);
            }
            chunks.current.extend_from_slice(body);
            chunks.current.split().freeze()
        })
        // The thread is exiting (a `track` from another thread-local's destructor).
        .unwrap_or_else(|_| Bytes::copy_from_slice(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(i: usize) -> Vec<u8> {
        let len = [1, 17, 130, 300, MAX_PACKED, MAX_PACKED + 1][i % 6];
        (0..len).map(|j| (i * 31 + j) as u8).collect()
    }

    #[test]
    fn every_body_reads_back_after_chunks_fill_and_the_thread_ends() {
        let stored = std::thread::spawn(|| (0..3_000).map(|i| store(&body(i))).collect::<Vec<_>>())
            .join()
            .unwrap();
        for (i, bytes) in stored.iter().enumerate() {
            assert_eq!(bytes[..], body(i)[..], "body {i}");
        }
    }

    #[test]
    fn small_bodies_are_packed_into_one_chunk() {
        std::thread::spawn(|| {
            let first = store(b"{\"a\":1}");
            let second = store(b"{\"b\":2}");
            assert_eq!(first.as_ptr().wrapping_add(first.len()), second.as_ptr());
        })
        .join()
        .unwrap();
    }
}
