//! Cross-domain retrieval: embeddings, device-batched search, metrics, baselines.

pub mod ann;
pub mod baselines;
pub mod distance;
pub mod embed;
pub mod eval;
pub mod export;
pub mod global;
pub mod import;
pub mod invariance;
pub mod method_rows;
pub mod metrics;
pub mod mutual;
pub mod npy;
pub mod pca;
pub mod scale_bench;
pub mod scaled;
pub mod search_bench;
pub mod streamed;
pub mod whiten;

pub use embed::{EmbeddingKind, Embeddings, ItemInfo};
pub use eval::{Evaluation, Metrics, evaluate};
