//! Where a queued record's body lives: written straight into a per-thread chunk, one body
//! after another, rather than into an allocation of its own.
//!
//! A body is written on the caller's thread and freed on the worker's. With one allocation per
//! record, the caller's allocator keeps handing it memory the worker freed: the `track` bench
//! put that at ~0.1 µs of a ~0.55 µs typed `track`, and packing saves about half of it (README,
//! benchmark section). A chunk goes back to the allocator once, when the last of its records
//! is delivered.
//!
//! `track` serialises a record into the chunk itself ([`take`], then [`Chunk::finish`]) rather than
//! into a scratch buffer that is then copied in: the copy read back, with wide loads, what the
//! writer had just stored in narrow ones.

use std::cell::Cell;

use bytes::{Bytes, BytesMut};

/// A thread's first chunk. Each new chunk doubles, up to [`MAX_CHUNK`], so that a thread
/// which tracks a few records holds little.
const FIRST_CHUNK: usize = 4 * 1024;
const MAX_CHUNK: usize = 64 * 1024;
/// Free room below which [`take`] starts a new chunk rather than let a record outgrow the
/// current one (which copies what the record has written so far).
const MIN_ROOM: usize = 512;

/// The free end of one of the thread's chunks (the records before it hold the rest), lent to
/// one record at a time, and the size of the thread's next chunk.
pub(crate) struct Chunk {
    free: BytesMut,
    next_size: usize,
}

thread_local! {
    /// `None` while a record is being written (a nested `track` then starts a chunk of its
    /// own), and before the thread's first record.
    static CHUNK: Cell<Option<Chunk>> = const { Cell::new(None) };
}

/// The thread's chunk, to write one record into with [`Chunk::bytes`], then
/// [`Chunk::finish`] (or [`Chunk::abandon`]). A record longer than the chunk's room grows it.
pub(crate) fn take() -> Chunk {
    let mut chunk = CHUNK
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| Chunk {
            free: BytesMut::new(),
            next_size: FIRST_CHUNK,
        });
    if chunk.free.capacity() < MIN_ROOM {
        // Reuses the chunk in place when every record in it has been delivered.
        chunk.free.reserve(chunk.next_size);
        chunk.next_size = (chunk.next_size * 2).min(MAX_CHUNK);
    }
    chunk
}

impl Chunk {
    /// Where the record is written: empty when [`take`] returns.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> &mut BytesMut {
        &mut self.free
    }

    /// The record written since [`take`], split off as its body; the rest of the chunk is
    /// kept for the thread's next record.
    pub(crate) fn finish(mut self) -> Bytes {
        let body = self.free.split().freeze();
        self.give_back();
        body
    }

    /// Drops what was written since [`take`] and keeps the chunk for the next record.
    pub(crate) fn abandon(mut self) {
        self.free.clear();
        self.give_back();
    }

    /// A chunk grown past [`MAX_CHUNK`] by one huge record is not kept: its memory must not
    /// stay pinned to the thread. A chunk a nested record left is replaced.
    fn give_back(mut self) {
        if self.free.capacity() > MAX_CHUNK {
            self.free = BytesMut::new();
        }
        // The thread is exiting (a `track` from another thread-local's destructor): nothing
        // to keep.
        let _ = CHUNK.try_with(|kept| kept.set(Some(self)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(i: usize) -> Vec<u8> {
        let len = [1, 17, 130, 300, MAX_CHUNK / 8, MAX_CHUNK + 1][i % 6];
        (0..len).map(|j| (i * 31 + j) as u8).collect()
    }

    fn store(body: &[u8]) -> Bytes {
        let mut chunk = take();
        chunk.bytes().extend_from_slice(body);
        chunk.finish()
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

    #[test]
    fn a_record_written_while_another_holds_the_chunk_gets_its_own() {
        std::thread::spawn(|| {
            let mut outer = take();
            outer.bytes().extend_from_slice(b"{\"outer\":");
            let inner = store(b"{\"inner\":1}");
            outer.bytes().extend_from_slice(b"2}");
            let outer = outer.finish();
            assert_eq!(&outer[..], b"{\"outer\":2}");
            assert_eq!(&inner[..], b"{\"inner\":1}");
            // The thread goes on with one chunk.
            let next = store(b"{\"next\":3}");
            assert_eq!(outer.as_ptr().wrapping_add(outer.len()), next.as_ptr());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_abandoned_record_leaves_nothing_in_the_chunk() {
        std::thread::spawn(|| {
            let first = store(b"{\"a\":1}");
            let mut abandoned = take();
            abandoned.bytes().extend_from_slice(b"{\"half");
            abandoned.abandon();
            let second = store(b"{\"b\":2}");
            assert_eq!(&second[..], b"{\"b\":2}");
            assert_eq!(first.as_ptr().wrapping_add(first.len()), second.as_ptr());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_chunk_grown_by_a_huge_record_is_not_kept() {
        std::thread::spawn(|| {
            let huge = store(&vec![b'x'; MAX_CHUNK * 4]);
            assert_eq!(huge.len(), MAX_CHUNK * 4);
            let mut chunk = take();
            let capacity = chunk.bytes().capacity();
            assert!(capacity <= MAX_CHUNK, "{capacity}");
            chunk.abandon();
        })
        .join()
        .unwrap();
    }
}
