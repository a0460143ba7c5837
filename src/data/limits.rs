//! What an image must be to be read: the limits the decoder enforces and the errors quote.

/// Largest width or height we agree to decode; a 60000×60000 header is refused before decoding.
pub const MAX_SIDE: u32 = 16_384;
/// Smallest usable side: anything smaller carries no scene.
pub const MIN_SIDE: u32 = 8;
/// Decoder allocation cap (bytes).
pub const MAX_ALLOC: u64 = 1 << 30;
